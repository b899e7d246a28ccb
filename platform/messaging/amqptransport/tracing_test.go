package amqptransport_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/amqptransport"
	"github.com/notifier/notifier/platform/tracing"
)

// tracedMessaging is newMessaging with tracing on, its spans recorded.
func tracedMessaging(t *testing.T, tr messaging.Transport) (*messaging.Messaging, *tracing.Provider, *tracetest.SpanRecorder) {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp, err := tracing.New(context.Background(), tracing.Settings{}, tracing.WithSpanProcessor(spans))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m, err := messaging.New(messaging.Config{MaxRetries: 2, RetryInterval: time.Millisecond, CloseTimeout: 10 * time.Second,
		Tracing: tp, System: "rabbitmq"}, tr, noDedup{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	return m, tp, spans
}

func endedSpan(t *testing.T, spans *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range spans.Ended() {
			if s.Name() == name {
				found = s
				return true
			}
		}
		return false
	}, wait, 10*time.Millisecond, "no span %s", name)
	return found
}

func TestTheTraceContextTravelsInAMQPHeadersFromHandlerToHandler(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{})
	b.removeAtEnd(t, tr, recordTopic, "amqptest.RecordPing")
	b.removeAtEnd(t, tr, pingTopic, "amqptest.CountOnPing")
	m, tp, spans := tracedMessaging(t, tr)
	headers := make(chan message.Metadata, 1)
	require.NoError(t, m.AddCommandHandler(cqrs.NewCommandHandler("amqptest.RecordPing", func(ctx context.Context, c *recordPing) error {
		return m.EventBus().Publish(ctx, &pingSent{N: c.N})
	})))
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("amqptest.CountOnPing", func(ctx context.Context, _ *pingSent) error {
		headers <- maps.Clone(cqrs.OriginalMessageFromCtx(ctx).Metadata)
		return nil
	})))
	run(t, m)

	ctx, root := tp.Tracer("test").Start(context.Background(), "test.root")
	require.NoError(t, m.CommandBus().Send(ctx, &recordPing{N: 1}))
	root.End()

	var md message.Metadata
	select {
	case md = <-headers:
	case <-time.After(wait):
		t.Fatal("the event was not handled")
	}
	record := endedSpan(t, spans, "amqptest.RecordPing")
	count := endedSpan(t, spans, "amqptest.CountOnPing")
	require.Equal(t, root.SpanContext().TraceID(), record.SpanContext().TraceID())
	require.Equal(t, root.SpanContext().SpanID(), record.Parent().SpanID(), "the command's handler is a child of the sender's span")
	require.Equal(t, record.SpanContext().SpanID(), count.Parent().SpanID(), "the event's handler is a child of the handler that published it")
	require.True(t, count.Parent().IsRemote())
	sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), md))
	require.Equal(t, record.SpanContext().SpanID(), sc.SpanID(), "the event's traceparent header names the publishing handler's span")
	require.Equal(t, trace.SpanKindConsumer, count.SpanKind())
}

func TestAnExternalPublishersTraceparentHeaderIsTheParentOfTheIntakesSpan(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	exchange := b.prefix + "partner.events"
	tr := b.transport(t, amqptransport.Config{External: []string{exchange}})
	b.removeAtEnd(t, tr, exchange, "amqptest.Intake")
	m, _, spans := tracedMessaging(t, tr)
	got := make(chan struct{}, 2)
	require.NoError(t, m.AddRawHandler(messaging.RawHandler{Name: "amqptest.Intake", Topic: exchange, Handle: func(*message.Message) error {
		got <- struct{}{}
		return nil
	}}))
	run(t, m)

	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	b.publishRaw(t, exchange, amqp.Publishing{ContentType: "application/json", Body: []byte(`{}`), MessageId: "with",
		Headers: amqp.Table{"traceparent": traceparent}})
	b.publishRaw(t, exchange, amqp.Publishing{ContentType: "application/json", Body: []byte(`{}`), MessageId: "without"})
	for range 2 {
		select {
		case <-got:
		case <-time.After(wait):
			t.Fatal("the events were not handled")
		}
	}
	var intake []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		intake = intake[:0]
		for _, s := range spans.Ended() {
			if s.Name() == "amqptest.Intake" {
				intake = append(intake, s)
			}
		}
		return len(intake) == 2
	}, wait, 10*time.Millisecond)
	var joined, started int
	for _, s := range intake {
		if s.Parent().IsValid() {
			require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext().TraceID().String())
			require.Equal(t, "00f067aa0ba902b7", s.Parent().SpanID().String())
			joined++
		} else {
			started++
		}
	}
	require.Equal(t, 1, joined, "the event with a traceparent joins its publisher's trace")
	require.Equal(t, 1, started, "the event without one starts a trace")
}
