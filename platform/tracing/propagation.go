package tracing

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/propagation"
)

// The metadata keys (and AMQP headers, and HTTP headers) of the W3C trace
// context.
const (
	TraceparentKey = "traceparent"
	TracestateKey  = "tracestate"
)

// propagator is the W3C trace context alone: no baggage, which a caller
// could fill with anything, personal data included.
var propagator = propagation.TraceContext{}

// Propagator returns the propagator of Notifier's trace context: W3C
// traceparent and tracestate.
func Propagator() propagation.TextMapPropagator { return propagator }

// MetadataCarrier carries the trace context in a Watermill message's
// metadata, which every transport keeps (AMQP headers, the SQL and outbox
// tables' metadata column, gochannel copies).
type MetadataCarrier message.Metadata

// Get implements propagation.TextMapCarrier.
func (c MetadataCarrier) Get(key string) string { return message.Metadata(c).Get(key) }

// Set implements propagation.TextMapCarrier.
func (c MetadataCarrier) Set(key, value string) { message.Metadata(c).Set(key, value) }

// Keys implements propagation.TextMapCarrier.
func (c MetadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the span context of ctx into md as traceparent (and
// tracestate); it writes nothing when ctx holds no valid span context, as
// when tracing is off. md must not be nil.
func Inject(ctx context.Context, md message.Metadata) {
	propagator.Inject(ctx, MetadataCarrier(md))
}

// Extract returns ctx with the remote span context md carries, or ctx as
// it is when md has no valid traceparent (a message from a publisher that
// does not trace: its handler's span then starts a new trace).
func Extract(ctx context.Context, md message.Metadata) context.Context {
	if md == nil {
		return ctx
	}
	return propagator.Extract(ctx, MetadataCarrier(md))
}
