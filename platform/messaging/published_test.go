package messaging_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/messaging"
)

type pingPlease struct {
	N int `json:"n"`
}

func (pingPlease) Name() string { return "test.PingPlease.v1" }

func TestHandlersSeeWhenTheirCommandOrEventWasPublished(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := messaging.New(messaging.Config{MaxRetries: 1, RetryInterval: time.Millisecond, Clock: fake},
		messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(clock.System{}, time.Hour), logger)
	require.NoError(t, err)

	type seen struct {
		at time.Time
		ok bool
	}
	events, commands := make(chan seen, 1), make(chan seen, 1)
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("stamped-event", func(ctx context.Context, _ *pingSent) error {
		at, ok := messaging.PublishedAt(ctx)
		events <- seen{at, ok}
		return nil
	})))
	require.NoError(t, m.AddCommandHandler(cqrs.NewCommandHandler("stamped-command", func(ctx context.Context, _ *pingPlease) error {
		at, ok := messaging.PublishedAt(ctx)
		commands <- seen{at, ok}
		return nil
	})))
	run(t, m)

	published := fake.Now()
	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 1}))
	require.NoError(t, m.CommandBus().Send(context.Background(), &pingPlease{N: 1}))
	fake.Advance(time.Minute) // handling later does not change when it was published

	for _, ch := range []chan seen{events, commands} {
		select {
		case got := <-ch:
			require.True(t, got.ok)
			require.True(t, published.Equal(got.at), "published at %v, handler saw %v", published, got.at)
		case <-time.After(5 * time.Second):
			t.Fatal("handler not called")
		}
	}
}

func TestPublishedAtIsUnknownWithoutAStampedMessage(t *testing.T) {
	t.Parallel()
	_, ok := messaging.PublishedAt(context.Background())
	require.False(t, ok, "no message in the context")

	msg, err := messaging.Marshaler().Marshal(&pingSent{N: 1})
	require.NoError(t, err)
	_, ok = messaging.PublishedAt(cqrs.CtxWithOriginalMessage(context.Background(), msg))
	require.False(t, ok, "a message marshalled outside the buses has no stamp")

	msg.Metadata.Set(messaging.PublishedAtKey, "yesterday")
	_, ok = messaging.PublishedAt(cqrs.CtxWithOriginalMessage(context.Background(), msg))
	require.False(t, ok, "a malformed stamp is no time")
}
