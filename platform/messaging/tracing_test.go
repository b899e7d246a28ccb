package messaging_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/tracing"
)

// batchSent is about one posting, and says so.
type batchSent struct {
	PostingID string `json:"posting_id"`
	Fail      bool   `json:"fail"`
}

func (batchSent) Name() string         { return "test.BatchSent.v1" }
func (e batchSent) PostingRef() string { return e.PostingID }
func (batchSent) RouteKey() string     { return "transactional" }

func newTracedMessaging(t *testing.T, tp *tracing.Provider) *messaging.Messaging {
	t.Helper()
	m, err := messaging.New(messaging.Config{MaxRetries: 1, RetryInterval: time.Millisecond, Tracing: tp, System: "gochannel"},
		messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(clock.System{}, time.Hour), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	return m
}

// handled adds a handler of batchSent that passes on the metadata of what
// it handles, failing when the event says so.
func handled(t *testing.T, m *messaging.Messaging) <-chan message.Metadata {
	t.Helper()
	seen := make(chan message.Metadata, 4)
	h := cqrs.NewEventHandler("test.RecordBatch", func(ctx context.Context, e *batchSent) error {
		seen <- maps.Clone(cqrs.OriginalMessageFromCtx(ctx).Metadata)
		if e.Fail {
			return messaging.Permanent(errors.New("refused for anna@example.com"))
		}
		return nil
	})
	for _, lh := range messaging.EventHandlerOnLanes(h) {
		require.NoError(t, m.AddEventHandler(lh))
	}
	return seen
}

func TestEachHandlerHasASpanThatContinuesThePublishersTrace(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp, err := tracing.New(context.Background(), tracing.Settings{}, tracing.WithSpanProcessor(spans))
	require.NoError(t, err)
	m := newTracedMessaging(t, tp)
	seen := handled(t, m)
	run(t, m)

	ctx, root := tp.Tracer("test").Start(context.Background(), "POST /things")
	require.NoError(t, m.EventBus().Publish(ctx, &batchSent{PostingID: "p-1"}))
	require.NoError(t, m.EventBus().Publish(ctx, &batchSent{PostingID: "p-2", Fail: true}))
	root.End()
	for range 2 {
		md := <-seen
		require.Contains(t, []string{"p-1", "p-2"}, md.Get(tracing.PostingIDMetadataKey))
		require.NotEmpty(t, md.Get(tracing.TraceparentKey))
	}

	var handlers []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		handlers = handlers[:0]
		for _, s := range spans.Ended() {
			if s.Name() == "test.RecordBatch.transactional" {
				handlers = append(handlers, s)
			}
		}
		return len(handlers) == 2
	}, 5*time.Second, time.Millisecond)
	for _, s := range handlers {
		require.Equal(t, root.SpanContext().SpanID(), s.Parent().SpanID())
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		require.Equal(t, "events.test.BatchSent.v1.transactional", attrs["messaging.destination.name"])
		require.Equal(t, "transactional", attrs["notifier.lane"])
		require.Equal(t, "gochannel", attrs["messaging.system"])
		if attrs["notifier.posting_id"] == "p-2" {
			require.Equal(t, codes.Error, s.Status().Code, "a failed handling is an error of its span")
			require.NotContains(t, s.Status().Description, "anna@example.com", "scrubbed")
			require.Contains(t, s.Status().Description, "refused for [redacted]")
		} else {
			require.Equal(t, "p-1", attrs["notifier.posting_id"])
			require.Equal(t, codes.Unset, s.Status().Code)
		}
	}
}

func TestWithTracingOffNothingIsStampedOnAMessage(t *testing.T) {
	t.Parallel()
	m := newTracedMessaging(t, tracing.Off())
	seen := handled(t, m)
	run(t, m)

	// Even a context with a span: off, nothing is propagated.
	spans := tracetest.NewSpanRecorder()
	other, err := tracing.New(context.Background(), tracing.Settings{}, tracing.WithSpanProcessor(spans))
	require.NoError(t, err)
	ctx, span := other.Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	require.NoError(t, m.EventBus().Publish(ctx, &batchSent{PostingID: "p-1"}))
	md := <-seen
	require.Empty(t, md.Get(tracing.TraceparentKey))
	require.Empty(t, md.Get(tracing.PostingIDMetadataKey))
}
