package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// requestInfo carries what the inner layers learn about a request back to
// the outermost handler, which logs and measures it.
type requestInfo struct {
	operation string
}

type requestInfoKey struct{}

// unmatchedOperation labels requests no route matched.
const unmatchedOperation = "unmatched"

// quietOperations are logged at Debug rather than Info: probes and scrapes.
var quietOperations = map[string]bool{
	opHealth:       true,
	opReadiness:    true,
	"GET /metrics": true,
}

// serveHTTP is the outermost handler: panic recovery, the body cap for raw
// routes, problem+json for unknown routes and methods, the access log and the
// request metrics, around the mux.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	var span trace.Span
	if s.tracer != nil && !untracedPaths[r.URL.Path] {
		r, span = s.startSpan(r)
	}
	if r.Body != nil {
		// Huma stops reading at each operation's own cap; this bounds raw
		// routes and multipart forms too.
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	}
	rw := &responseWriter{ResponseWriter: w, req: r}
	defer func() {
		v := recover()
		aborted := false
		if v != nil {
			if v == http.ErrAbortHandler {
				if span != nil {
					span.End()
				}
				panic(v)
			}
			s.logger.ErrorContext(r.Context(), "http handler panicked",
				"method", r.Method, "path", loggedPath(r.URL.EscapedPath(), r.Pattern, r.PathValue), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rw.wroteHeader {
				// The response had begun: abort the connection rather than
				// let a truncated body pass for a complete one.
				aborted = true
			} else {
				writeProblem(rw, internalProblem())
			}
		}
		operation, status := s.observe(r, rw, info, time.Since(start))
		if span != nil {
			endSpan(span, r, operation, status)
		}
		if aborted {
			panic(http.ErrAbortHandler)
		}
	}()
	s.mux.ServeHTTP(rw, r)
}

// observe writes the access log line and updates the request metrics, and
// returns the operation and the status it logged. The log holds no body, no
// query string and no header, so no token, and the path with its personal
// data masked (loggedPath).
func (s *Server) observe(r *http.Request, rw *responseWriter, info *requestInfo, elapsed time.Duration) (string, int) {
	operation := info.operation
	if operation == "" {
		operation = r.Pattern
	}
	if operation == "" {
		operation = unmatchedOperation
	}
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	method := metricMethod(r.Method)
	s.metrics.requests.WithLabelValues(operation, method, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(operation, method).Observe(elapsed.Seconds())

	level := slog.LevelInfo
	if quietOperations[operation] {
		level = slog.LevelDebug
	}
	s.logger.Log(r.Context(), level, "http request",
		"method", r.Method,
		"path", loggedPath(r.URL.EscapedPath(), r.Pattern, r.PathValue),
		"operation", operation,
		"status", status,
		"duration", elapsed,
		"bytes", rw.bytes,
	)
	return operation, status
}

// metricMethod bounds the method label: unknown methods become "OTHER".
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	default:
		return "OTHER"
	}
}

// responseWriter records the status and size of a response, and turns the
// mux's plain-text 404 and 405 answers into problem+json.
type responseWriter struct {
	http.ResponseWriter
	req         *http.Request
	status      int
	bytes       int64
	wroteHeader bool
	discard     bool // the mux's plain-text body that follows a rewritten error
}

// WriteHeader records code; when no route matched (the mux set no pattern),
// a 404 or 405 is answered with a problem instead.
func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code) // let net/http report the superfluous call
		return
	}
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.req.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		detail := "no resource at this path"
		if code == http.StatusMethodNotAllowed {
			detail = fmt.Sprintf("method %s is not allowed here; allowed: %s", metricMethod(w.req.Method), w.Header().Get("Allow"))
		}
		w.Header().Del("Content-Length")
		writeProblem(countingWriter{w}, problem(code, detail))
		w.discard = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write writes p, unless it is the plain-text body of a rewritten error.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return len(p), nil
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client, for streaming responses.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingWriter writes straight to the underlying writer while counting
// bytes on behalf of a responseWriter.
type countingWriter struct{ w *responseWriter }

func (c countingWriter) Header() http.Header  { return c.w.ResponseWriter.Header() }
func (c countingWriter) WriteHeader(code int) { c.w.ResponseWriter.WriteHeader(code) }
func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.ResponseWriter.Write(p)
	c.w.bytes += int64(n)
	return n, err
}

// metrics are the request counter and latency histogram, labelled by
// operation ID (or route pattern), method and status.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers the request metrics with reg, reusing collectors a
// previous Server already registered there.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests, err := registerOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "notifier",
		Subsystem: "http",
		Name:      "requests_total",
		Help:      "HTTP requests answered, by operation ID (or route pattern), method and status.",
	}, []string{"operation", "method", "status"}))
	if err != nil {
		return nil, err
	}
	duration, err := registerOrReuse(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "notifier",
		Subsystem: "http",
		Name:      "request_duration_seconds",
		Help:      "HTTP request latency, by operation ID (or route pattern) and method.",
		Buckets:   prometheus.DefBuckets,
	}, []string{"operation", "method"}))
	if err != nil {
		return nil, err
	}
	return &metrics{requests: requests, duration: duration}, nil
}

// registerOrReuse registers c with reg, or returns the identical collector
// already registered.
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register http metrics: %w", err)
}
