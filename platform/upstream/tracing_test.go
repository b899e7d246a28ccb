package upstream_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/notifier/notifier/platform/upstream"
)

// Each attempt is a client span under the caller's, named after the
// logical host, with its attempt and status and never the path or query;
// the directory receives the trace context of that span.
func TestEveryAttemptIsAClientSpanAndCarriesTheTraceContext(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var (
		mu      sync.Mutex
		parents []string
	)
	calls := 0
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("traceparent"))
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, `{"ok":true}`)
	})
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}, Attempts: 2}, upstream.WithTracer(tp.Tracer("test")))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "ExpandAudience")
	var got struct{ OK bool }
	if err := c.GetJSON(ctx, "http://auth/api/v1/users/?email=anna@example.com", &got); err != nil {
		t.Fatalf("GetJSON: %v", err)
	}
	parent.End()

	var spans []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "GET auth" {
			spans = append(spans, s)
		}
	}
	if len(spans) != 2 {
		t.Fatalf("%d GET auth spans, want one per attempt (2)", len(spans))
	}
	for i, s := range spans {
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("attempt %d: not a child of the caller's span", i+1)
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
			if strings.Contains(a.Value.Emit(), "anna") || strings.Contains(a.Value.Emit(), "/api/v1") {
				t.Errorf("attempt %d: attribute %s holds the URL: %s", i+1, a.Key, a.Value.Emit())
			}
		}
		want := map[string]string{"notifier.attempt": []string{"1", "2"}[i], "server.address": "auth",
			"http.request.method": "GET", "http.response.status_code": []string{"503", "200"}[i]}
		for k, v := range want {
			if attrs[k] != v {
				t.Errorf("attempt %d: %s = %q, want %q", i+1, k, attrs[k], v)
			}
		}
		if !strings.Contains(parents[i], s.SpanContext().SpanID().String()) {
			t.Errorf("attempt %d: the directory got traceparent %q, not this span's", i+1, parents[i])
		}
	}
	if spans[0].Status().Code.String() != "Error" || spans[1].Status().Code.String() != "Unset" {
		t.Errorf("statuses %s, %s: want the 503 an error and the 200 not", spans[0].Status().Code, spans[1].Status().Code)
	}
}

// Without a tracer nothing is propagated: a directory sees no trace
// context (tracing off costs nothing).
func TestWithoutATracerNoTraceContextIsSent(t *testing.T) {
	t.Parallel()
	var got string
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
		writeJSON(w, `{}`)
	})
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}})
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	var v struct{}
	if err := c.GetJSON(ctx, "http://auth/api/v1/users/", &v); err != nil {
		t.Fatal(err)
	}
	if got != "" {
		t.Fatalf("traceparent %q sent without a tracer", got)
	}
}
