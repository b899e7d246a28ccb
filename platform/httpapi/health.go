package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// ReadinessTimeout bounds each readiness check.
const ReadinessTimeout = 2 * time.Second

// Operation IDs of the probes.
const (
	opHealth    = "get-health"
	opReadiness = "get-readiness"
)

type readinessCheck struct {
	name  string
	check func(context.Context) error
}

// AddReadinessCheck adds a check GET /readyz runs, such as a database ping.
// A check gets ReadinessTimeout and must honour its context; a second check
// with the same name replaces the first. It is safe to call at any time.
func (s *Server) AddReadinessCheck(name string, check func(context.Context) error) {
	if name == "" || check == nil {
		panic("httpapi: AddReadinessCheck: empty name or nil check")
	}
	s.checksMu.Lock()
	defer s.checksMu.Unlock()
	for i := range s.checks {
		if s.checks[i].name == name {
			s.checks[i].check = check
			return
		}
	}
	s.checks = append(s.checks, readinessCheck{name: name, check: check})
}

// statusOutput is the body of a healthy probe.
type statusOutput struct {
	Body struct {
		Status string `json:"status" example:"ok" doc:"Always \"ok\"."`
	}
}

func okStatus() *statusOutput {
	out := &statusOutput{}
	out.Body.Status = "ok"
	return out
}

func (s *Server) registerHealth() {
	huma.Register(s.api, huma.Operation{
		OperationID: opHealth,
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness probe",
		Description: "Answers 200 while the process serves HTTP.",
		Tags:        []string{"health"},
	}, func(context.Context, *struct{}) (*statusOutput, error) {
		return okStatus(), nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: opReadiness,
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness probe",
		Description: "Answers 200 when every readiness check (broker, database, …) passes, " +
			"else 503 naming the failing checks.",
		Tags:   []string{"health"},
		Errors: []int{http.StatusServiceUnavailable},
	}, func(ctx context.Context, _ *struct{}) (*statusOutput, error) {
		if failed := s.failingChecks(ctx); len(failed) > 0 {
			details := make([]error, len(failed))
			for i, name := range failed {
				details[i] = &huma.ErrorDetail{Message: "readiness check failed", Location: "checks." + name}
			}
			return nil, huma.Error503ServiceUnavailable("not ready: "+strings.Join(failed, ", "), details...)
		}
		return okStatus(), nil
	})
}

// failingChecks runs every readiness check concurrently, each bounded by
// ReadinessTimeout, and returns the names of those that failed, sorted. A
// check's error is logged, never returned to the client.
func (s *Server) failingChecks(ctx context.Context) []string {
	s.checksMu.Lock()
	checks := slices.Clone(s.checks)
	s.checksMu.Unlock()

	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for _, c := range checks {
		wg.Go(func() {
			if err := runCheck(ctx, s.readinessTimeout, c.check); err != nil {
				s.logger.WarnContext(ctx, "readiness check failed", "check", c.name, "error", err)
				mu.Lock()
				failed = append(failed, c.name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(failed)
	return failed
}

// runCheck runs check within timeout, returning when the timeout
// passes even if check ignores its context, and turning a panic into an
// error.
func runCheck(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("check panicked: %v", v)
			}
		}()
		done <- check(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("check timed out: %w", ctx.Err())
	}
}
