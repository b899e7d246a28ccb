package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// Request is one call to an endpoint: a POST of Body with the Standard
// Webhooks headers.
type Request struct {
	URL       string
	WebhookID string
	Timestamp time.Time
	// Signature is the webhook-signature header.
	Signature string
	Body      []byte
}

// Sender makes calls to endpoints (the HTTP adapter, with its guarded
// dialer). It returns the endpoint's status code, or an error when no
// answer came, in words safe to show and store: never the URL.
type Sender interface {
	Send(ctx context.Context, r Request) (status int, err error)
}

// Metrics counts the attempts.
type Metrics interface {
	// Attempt counts one try with its result (domain.ResultSuccess or
	// domain.ResultFailure) and how long it took.
	Attempt(result string, d time.Duration)
}

// DispatcherConfig tunes a Dispatcher.
type DispatcherConfig struct {
	// Concurrency bounds the calls in flight in this process.
	Concurrency int
	// EndpointConcurrency bounds the calls in flight to one endpoint, so
	// that a slow endpoint holds no more than that.
	EndpointConcurrency int
	// Timeout bounds one call, connection and answer included.
	Timeout time.Duration
	// Policy decides what becomes of a message after a try.
	Policy domain.RetryPolicy
}

// leaseMargin is how much longer than a call's timeout a message claimed
// by a dispatcher that died stays claimed.
const leaseMargin = time.Minute

// Dispatcher sends the messages that are due, the webhooks module's
// outbox relay: a loop apart from every delivery, so that a slow or dead
// endpoint slows nothing but its own messages. Messages are claimed from
// the store (FOR UPDATE SKIP LOCKED with PostgreSQL), so that several
// instances never send one at once, and leased: a message whose
// dispatcher died is sent again, with the same webhook-id, once its lease
// is over.
type Dispatcher struct {
	store   Store
	sender  Sender
	metrics Metrics
	clock   clock.Clock
	log     *slog.Logger
	cfg     DispatcherConfig

	mu          sync.Mutex
	inflight    int
	perEndpoint map[uuid.UUID]int
	next        int // the endpoint the next tick starts with, for fairness
	wg          sync.WaitGroup
}

// NewDispatcher returns a dispatcher; every dependency is required and
// every setting positive.
func NewDispatcher(store Store, sender Sender, metrics Metrics, clk clock.Clock, logger *slog.Logger, cfg DispatcherConfig) (*Dispatcher, error) {
	if store == nil || sender == nil || metrics == nil || clk == nil || logger == nil {
		return nil, errors.New("new dispatcher: nil dependency")
	}
	if cfg.Concurrency < 1 || cfg.EndpointConcurrency < 1 || cfg.Timeout <= 0 || cfg.Policy.Backoff <= 0 ||
		cfg.Policy.MaxBackoff < cfg.Policy.Backoff || cfg.Policy.MaxAge <= 0 {
		return nil, fmt.Errorf("new dispatcher: invalid settings %+v", cfg)
	}
	return &Dispatcher{store: store, sender: sender, metrics: metrics, clock: clk, log: logger, cfg: cfg,
		perEndpoint: map[uuid.UUID]int{}}, nil
}

// Run calls Tick every interval until ctx ends, then waits for the calls
// in flight, which ctx's end cuts short: their messages are sent again
// once their lease is over.
func (d *Dispatcher) Run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	defer d.Wait()
	for {
		if _, err := d.Tick(ctx); err != nil && ctx.Err() == nil {
			d.log.ErrorContext(ctx, "webhook dispatch failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Tick claims the due messages of every enabled endpoint, as many as the
// free places of the endpoint and of the process allow, and starts a call
// for each; it does not wait for them (Wait does). It returns how many it
// started.
func (d *Dispatcher) Tick(ctx context.Context) (int, error) {
	endpoints, err := d.store.ListEndpoints(ctx)
	if err != nil {
		return 0, fmt.Errorf("list endpoints: %w", err)
	}
	if len(endpoints) == 0 {
		return 0, nil
	}
	d.mu.Lock()
	first := d.next % len(endpoints)
	d.next++
	d.mu.Unlock()
	started := 0
	for i := range endpoints {
		e := endpoints[(first+i)%len(endpoints)]
		if !e.Enabled() {
			continue
		}
		free, full := d.free(e.ID)
		if full {
			break
		}
		if free == 0 {
			continue
		}
		now := d.clock.Now()
		msgs, err := d.store.Claim(ctx, e.ID, now, now.Add(d.cfg.Timeout+leaseMargin), free)
		if err != nil {
			return started, fmt.Errorf("claim messages: %w", err)
		}
		d.take(e.ID, len(msgs))
		for _, m := range msgs {
			d.wg.Add(1)
			go d.try(ctx, e, m)
		}
		started += len(msgs)
	}
	return started, nil
}

// Wait waits for the calls in flight.
func (d *Dispatcher) Wait() { d.wg.Wait() }

// free returns how many more calls the endpoint may have in flight, and
// whether the process has no place left at all. Only Tick takes places,
// so what it returns cannot be taken meanwhile.
func (d *Dispatcher) free(id uuid.UUID) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	left := d.cfg.Concurrency - d.inflight
	if left <= 0 {
		return 0, true
	}
	return min(left, d.cfg.EndpointConcurrency-d.perEndpoint[id]), false
}

func (d *Dispatcher) take(id uuid.UUID, n int) {
	if n == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight += n
	d.perEndpoint[id] += n
}

func (d *Dispatcher) release(id uuid.UUID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight--
	if d.perEndpoint[id]--; d.perEndpoint[id] <= 0 {
		delete(d.perEndpoint, id)
	}
}

// try makes one call of m to e and records what came of it.
func (d *Dispatcher) try(ctx context.Context, e domain.Endpoint, m domain.Message) {
	defer d.wg.Done()
	defer d.release(e.ID)
	log := d.log.With("endpoint_id", e.ID, "webhook_id", m.WebhookID(), "event_type", m.EventType, "attempt", m.Attempts)

	at := d.clock.Now()
	started := time.Now()
	status, err := d.call(ctx, e, m, at)
	elapsed := time.Since(started)
	if ctx.Err() != nil {
		log.DebugContext(ctx, "webhook call cut short by the stop; it is sent again after its lease")
		return
	}
	outcome := d.cfg.Policy.Judge(m, e, status, err, d.clock.Now())
	attempt := domain.Attempt{
		EndpointID: e.ID, MessageID: m.ID, EventType: m.EventType, Attempt: m.Attempts, At: at,
		StatusCode: status, Duration: elapsed, Result: domain.ResultSuccess,
	}
	if outcome.Verdict != domain.Delivered {
		attempt.Result = domain.ResultFailure
		attempt.Error = failure(status, err)
	}
	if outcome.Verdict == domain.Retry {
		next := outcome.NextAttemptAt
		attempt.NextAttemptAt = &next
	}
	d.metrics.Attempt(attempt.Result, elapsed)

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
	defer cancel()
	disabled, rerr := d.store.Record(rctx, m, attempt, outcome)
	if rerr != nil {
		// The lease brings the message back: it is tried again.
		log.ErrorContext(ctx, "webhook attempt not recorded", "error", rerr)
		return
	}
	switch {
	case disabled:
		log.WarnContext(ctx, "webhook endpoint disabled", "reason", outcome.DisableReason)
	case outcome.Verdict == domain.GiveUp:
		log.WarnContext(ctx, "webhook message given up", "status", status, "error", attempt.Error)
	case outcome.Verdict == domain.Retry:
		log.DebugContext(ctx, "webhook call failed; tried again later", "status", status, "error", attempt.Error,
			"next_attempt_at", outcome.NextAttemptAt)
	default:
		log.DebugContext(ctx, "webhook sent", "status", status, "duration", elapsed)
	}
}

// call signs m for a call at at and makes it, within the timeout.
func (d *Dispatcher) call(ctx context.Context, e domain.Endpoint, m domain.Message, at time.Time) (int, error) {
	sig, err := sign(e.SigningSecrets(at), m.WebhookID(), at, m.Payload)
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	return d.sender.Send(cctx, Request{URL: e.URL, WebhookID: m.WebhookID(), Timestamp: at, Signature: sig, Body: m.Payload})
}

// failure says why a try failed, for the history: the error, or what a
// status code other than 2xx means here.
func failure(status int, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case status >= 300 && status < 400:
		return "redirects are not followed"
	case status == 410:
		return "the endpoint is gone: disabled"
	default:
		return ""
	}
}
