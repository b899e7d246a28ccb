package logging

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// The attributes TraceHandler adds.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// TraceHandler is a slog.Handler that adds trace_id and span_id to every
// record logged with a context that carries a valid span context (a
// request's or a message's while tracing is on), so that a log line leads
// to its trace. Records logged without one pass through unchanged.
type TraceHandler struct{ next slog.Handler }

var _ slog.Handler = TraceHandler{}

// NewTraceHandler returns a TraceHandler writing to next.
func NewTraceHandler(next slog.Handler) TraceHandler { return TraceHandler{next: next} }

// Enabled implements slog.Handler.
func (h TraceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler; r itself is not modified.
func (h TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			r.AddAttrs(slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()))
		}
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h TraceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return TraceHandler{next: h.next.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h TraceHandler) WithGroup(name string) slog.Handler {
	return TraceHandler{next: h.next.WithGroup(name)}
}
