package messaging

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/tracing"
)

// tracerScope is the instrumentation scope of the consumer spans.
const tracerScope = "github.com/notifier/notifier/platform/messaging"

// PostingScoped is implemented by the commands and events about one
// posting: PostingRef returns its ID. While tracing is on, the buses stamp
// it in the message's metadata (tracing.PostingIDMetadataKey), and the
// handler's span carries it as notifier.posting_id.
type PostingScoped interface {
	PostingRef() string
}

// stampTrace writes into msg the trace context of the context it is sent
// with (the CQRS buses set it: the handler's or the request's span) and the
// posting v is about.
func stampTrace(msg *message.Message, v any) {
	tracing.Inject(msg.Context(), msg.Metadata)
	if p, ok := v.(PostingScoped); ok {
		if id := p.PostingRef(); id != "" {
			msg.Metadata.Set(tracing.PostingIDMetadataKey, id)
		}
	}
}

// trace gives each handling of a message a consumer span named after the
// handler ("posting.ExpandAudience.transactional"), a child of the trace
// context the message carries (traceparent metadata, an AMQP header for
// an external publisher's event), else the root of a new trace. The span
// is in the message's context while the handler runs, so whatever the
// handler sends carries it on.
func (m *Messaging) trace(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		outer := msg.Context()
		name := message.HandlerNameFromCtx(outer)
		attrs := []attribute.KeyValue{
			attribute.String("messaging.system", m.system),
			attribute.String("messaging.destination.name", message.SubscribeTopicFromCtx(outer)),
			attribute.String("messaging.consumer.group.name", name),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.message.id", msg.UUID),
			tracing.LaneKey.String(m.laneOf(name, msg)),
		}
		if id := msg.Metadata.Get(tracing.PostingIDMetadataKey); id != "" {
			attrs = append(attrs, tracing.PostingIDKey.String(id))
		}
		ctx, span := m.tracer.Start(tracing.Extract(outer, msg.Metadata), name,
			trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
		defer span.End()
		msg.SetContext(ctx)
		out, err := h(msg)
		msg.SetContext(outer)
		if err != nil {
			tracing.Fail(span, err)
		}
		return out, err
	}
}
