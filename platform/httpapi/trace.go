package httpapi

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/tracing"
)

// tracerScope is the instrumentation scope of the server spans.
const tracerScope = "github.com/notifier/notifier/platform/httpapi"

// untracedPaths are the probes and the scrape: a span each would bury the
// traces worth reading.
var untracedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// startSpan starts the server span of r, a child of the W3C trace context
// its headers carry (else the root of a new trace), and returns r with it
// in its context. The span holds the method, the route and the status, never
// the path itself or the query, which may hold an address or a token.
func (s *Server) startSpan(r *http.Request) (*http.Request, trace.Span) {
	ctx := tracing.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, metricMethod(r.Method),
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", metricMethod(r.Method)),
			attribute.String("url.scheme", scheme(r)),
			attribute.String("network.protocol.version", strings.TrimPrefix(r.Proto, "HTTP/")),
		))
	return r.WithContext(ctx), span
}

// endSpan names the span after the route the mux matched ("POST
// /api/v1/events"; the method alone when none did), records the operation
// and the status, and ends it. A 5xx is an error of the span; a 4xx is the
// client's.
func endSpan(span trace.Span, r *http.Request, operation string, status int) {
	method := metricMethod(r.Method)
	route := r.Pattern
	if _, rest, ok := strings.Cut(route, " "); ok {
		route = rest
	}
	if route != "" {
		span.SetName(method + " " + route)
		span.SetAttributes(attribute.String("http.route", route))
	}
	if operation != "" && operation != unmatchedOperation {
		span.SetAttributes(tracing.OperationKey.String(operation))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
