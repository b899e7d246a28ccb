package messaging_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/messaging"
)

type pingSent struct {
	N int `json:"n"`
}

func (pingSent) Name() string { return "test.PingSent.v1" }

func newMessaging(t *testing.T) *messaging.Messaging {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := messaging.New(messaging.Config{MaxRetries: 3, RetryInterval: time.Millisecond},
		messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(clock.System{}, time.Hour), logger)
	require.NoError(t, err)
	return m
}

func run(t *testing.T, m *messaging.Messaging) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = m.Close() })
	select {
	case <-m.Running():
	case <-time.After(5 * time.Second):
		t.Fatal("router did not start")
	}
}

func TestHandlerThatFailsOnceStillProcessesTheMessageExactlyOnce(t *testing.T) {
	m := newMessaging(t)
	var attempts, processed atomic.Int32
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("flaky", func(ctx context.Context, e *pingSent) error {
		if attempts.Add(1) == 1 {
			return errors.New("database hiccup")
		}
		processed.Add(1)
		return nil
	})))
	run(t, m)

	// The same message published twice, as a broker redelivery would.
	msg, err := messaging.Marshaler().Marshal(&pingSent{N: 1})
	require.NoError(t, err)
	require.NoError(t, m.Publisher().Publish(messaging.EventTopic("test.PingSent.v1", ""), msg))
	require.Eventually(t, func() bool { return processed.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, m.Publisher().Publish(messaging.EventTopic("test.PingSent.v1", ""), msg.Copy()))

	// A second, different message proves the handler is still consuming,
	// so the duplicate above has been seen and dropped by then.
	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 2}))
	require.Eventually(t, func() bool { return processed.Load() == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, int32(3), attempts.Load(), "one failure, one success, the duplicate dropped, one new message")
}

func TestPermanentErrorGoesToPoisonQueueWithItsReasonWithoutRetries(t *testing.T) {
	m := newMessaging(t)
	var attempts atomic.Int32
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("picky", func(ctx context.Context, e *pingSent) error {
		attempts.Add(1)
		return messaging.Permanent(errors.New("unknown template"))
	})))
	var mu sync.Mutex
	var poisoned []*message.Message
	require.NoError(t, m.AddPoisonObserver("poison-test", func(msg *message.Message) {
		mu.Lock()
		defer mu.Unlock()
		poisoned = append(poisoned, msg)
	}))
	run(t, m)

	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 1}))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(poisoned) == 1 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, poisoned[0].Metadata.Get(middleware.ReasonForPoisonedKey), "unknown template")
	require.Equal(t, "picky", poisoned[0].Metadata.Get(middleware.PoisonedHandlerKey))
	require.Equal(t, int32(1), attempts.Load())
}

func TestTransientErrorIsRetriedThenPoisonedNeverEndlessly(t *testing.T) {
	m := newMessaging(t)
	var attempts atomic.Int32
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("broken", func(ctx context.Context, e *pingSent) error {
		attempts.Add(1)
		return errors.New("still down")
	})))
	var poisoned atomic.Int32
	require.NoError(t, m.AddPoisonObserver("poison-test", func(*message.Message) { poisoned.Add(1) }))
	run(t, m)

	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 1}))
	require.Eventually(t, func() bool { return poisoned.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, int32(4), attempts.Load(), "the first try and three retries")
}

func TestMemoryKeyStoreForgetsReleasedKeysAndExpiresCompletedOnes(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := messaging.NewMemoryKeyStore(c, time.Minute)

	dup, err := s.Claim(ctx, "k")
	require.NoError(t, err)
	require.False(t, dup)
	_, err = s.Claim(ctx, "k")
	require.ErrorIs(t, err, messaging.ErrInFlight)
	require.NoError(t, s.Release(ctx, "k"))

	dup, err = s.Claim(ctx, "k")
	require.NoError(t, err)
	require.False(t, dup, "a released key is claimable again")
	require.NoError(t, s.Complete(ctx, "k"))
	dup, err = s.Claim(ctx, "k")
	require.NoError(t, err)
	require.True(t, dup)

	c.Advance(2 * time.Minute)
	dup, err = s.Claim(ctx, "k")
	require.NoError(t, err)
	require.False(t, dup, "past the retention window the key is forgotten")
}
