package pgtransport_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging/pgtransport"
	"github.com/notifier/notifier/platform/tracing"
)

const (
	traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tracestate  = "notifier=1"
)

// tracedMessage is a message published in a handler's unit of work, with
// the trace context the buses stamp.
func tracedMessage(uow context.Context, l string) *message.Message {
	msg := message.NewMessage(watermill.NewUUID(), []byte(`"traced"`))
	msg.Metadata.Set(tracing.TraceparentKey, traceparent)
	msg.Metadata.Set(tracing.TracestateKey, tracestate)
	msg.Metadata.Set(lane.MetadataKey, l)
	msg.SetContext(uow)
	return msg
}

func TestTheTraceContextSurvivesTheOutboxOfEachLane(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	broker := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 16}, watermill.NopLogger{})
	outbox, err := pgtransport.NewOutbox(pool, broker, 10*time.Millisecond, nil, pgtransport.WithTransactionalLane(pool, broker, 0))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = outbox.Run(ctx) }()
	<-outbox.Running()
	t.Cleanup(func() { cancel(); _ = outbox.Stop() })

	for _, l := range []string{lane.Bulk, lane.Transactional} {
		topic := "events.traced." + l
		received, err := broker.Subscribe(context.Background(), topic)
		require.NoError(t, err)
		uow, finish := db.Begin(context.Background(), pool)
		require.NoError(t, outbox.Publish(topic, tracedMessage(uow, l)))
		require.NoError(t, finish(nil))
		select {
		case msg := <-received:
			require.Equal(t, traceparent, msg.Metadata.Get(tracing.TraceparentKey), "%s lane: stored in PostgreSQL, forwarded later", l)
			require.Equal(t, tracestate, msg.Metadata.Get(tracing.TracestateKey))
			msg.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("%s lane: nothing forwarded", l)
		}
	}
}

func TestTheTraceContextSurvivesTheSQLTransport(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	tr, err := pgtransport.NewSQL(pool, pgtransport.SQLConfig{PollInterval: 10 * time.Millisecond}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	for topic, l := range map[string]string{"events.traced": lane.Bulk, "events.traced.transactional": lane.Transactional} {
		handler := "test.Traced." + l
		sub, err := tr.LaneSubscriber(handler, l)
		require.NoError(t, err)
		require.NoError(t, tr.Initialize(topic, handler))
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		received, err := sub.Subscribe(ctx, topic)
		require.NoError(t, err)

		uow, finish := db.Begin(context.Background(), pool)
		require.NoError(t, tr.Publisher().Publish(topic, tracedMessage(uow, l)))
		require.NoError(t, finish(nil))
		select {
		case msg := <-received:
			require.Equal(t, traceparent, msg.Metadata.Get(tracing.TraceparentKey), topic)
			require.Equal(t, tracestate, msg.Metadata.Get(tracing.TracestateKey))
			msg.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing received", topic)
		}
	}
}
