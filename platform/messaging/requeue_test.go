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

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/messaging"
)

// acking is the memory transport that counts, by handler and message
// UUID, the messages each handler's subscription acknowledged: whether
// the handler took the message, dropped it as a duplicate or let it pass.
type acking struct {
	*messaging.MemoryTransport
	acks sync.Map // "handler/uuid" → *atomic.Int32
}

func (a *acking) Subscriber(name string) (message.Subscriber, error) {
	sub, err := a.MemoryTransport.Subscriber(name)
	return ackingSubscriber{Subscriber: sub, name: name, acks: &a.acks}, err
}

type ackingSubscriber struct {
	message.Subscriber
	name string
	acks *sync.Map
}

func (s ackingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			go func() {
				select {
				case <-msg.Acked():
					v, _ := s.acks.LoadOrStore(s.name+"/"+msg.UUID, &atomic.Int32{})
					v.(*atomic.Int32).Add(1)
				case <-ctx.Done():
				}
			}()
			out <- msg
		}
	}()
	return out, nil
}

// acked waits until handler has acknowledged n messages of that UUID.
func (a *acking) acked(t *testing.T, handler, uuid string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		v, ok := a.acks.Load(handler + "/" + uuid)
		return ok && int(v.(*atomic.Int32).Load()) == n
	}, 5*time.Second, time.Millisecond, "%s acknowledged %s %d times", handler, uuid, n)
}

// requeueRig is a router with two handlers of one event: steady, which
// always succeeds, and flaky, which refuses every event for good while
// broken; and a poison handler that keeps what is poisoned.
type requeueRig struct {
	m             *messaging.Messaging
	transport     *acking
	broken        atomic.Bool
	steady, flaky sync.Map // event N → times handled

	mu       sync.Mutex
	poisoned []*message.Message
}

// skipping is an event handler that is not deduplicated by message key.
type skipping struct{ cqrs.EventHandler }

func (skipping) SkipDeduplication() bool { return true }

func count(m *sync.Map, n int) int {
	v, ok := m.Load(n)
	if !ok {
		return 0
	}
	return int(v.(*atomic.Int32).Load())
}

func inc(m *sync.Map, n int) {
	v, _ := m.LoadOrStore(n, &atomic.Int32{})
	v.(*atomic.Int32).Add(1)
}

func newRequeueRig(t *testing.T, cfg messaging.Config, keys messaging.KeyStore, steadySkipsKey bool) *requeueRig {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.MaxRetries, cfg.RetryInterval = 2, time.Millisecond
	transport := &acking{MemoryTransport: messaging.NewMemoryTransport(nil)}
	m, err := messaging.New(cfg, transport, keys, logger)
	require.NoError(t, err)
	r := &requeueRig{m: m, transport: transport}
	var steady cqrs.EventHandler = cqrs.NewEventHandler("steady", func(ctx context.Context, e *pingSent) error {
		inc(&r.steady, e.N)
		return nil
	})
	if steadySkipsKey {
		steady = skipping{steady}
	}
	require.NoError(t, m.AddEventHandler(steady))
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("flaky", func(ctx context.Context, e *pingSent) error {
		if r.broken.Load() {
			return messaging.Permanent(errors.New("upstream down"))
		}
		inc(&r.flaky, e.N)
		return nil
	})))
	require.NoError(t, m.AddPoisonHandler("keep", func(msg *message.Message) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.poisoned = append(r.poisoned, msg)
		return nil
	}))
	run(t, m)
	return r
}

func (r *requeueRig) waitPoisoned(t *testing.T, n int) *message.Message {
	t.Helper()
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.poisoned) >= n }, 5*time.Second, time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.poisoned[n-1]
}

// copyOf is what an operator's requeue publishes: the poisoned message's
// UUID, payload and metadata, without what the poison queue added.
func copyOf(poisoned *message.Message, requeuedFor string) *message.Message {
	msg := message.NewMessage(poisoned.UUID, poisoned.Payload)
	for k, v := range poisoned.Metadata {
		switch k {
		case middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey,
			middleware.PoisonedSubscriberKey, messaging.PoisonedAtKey:
		default:
			msg.Metadata.Set(k, v)
		}
	}
	if requeuedFor != "" {
		msg.Metadata.Set(messaging.RequeuedForKey, requeuedFor)
	}
	return msg
}

var pingTopic = messaging.EventTopic("test.PingSent.v1", "")

// What an operator's requeue relies on, even without RequeuedForKey: the
// handler that poisoned a message never kept its deduplication key, so the
// copy with the same UUID is handled by it; a handler that had handled it
// kept its key and drops the copy. Checked with the memory key store and
// with PostgreSQL's processed_messages in the unit of work.
func TestACopyOfAPoisonedMessageWithItsUUIDIsHandledByItsPoisonerAndDroppedByTheOthers(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) (messaging.Config, messaging.KeyStore){
		"memory": func(*testing.T) (messaging.Config, messaging.KeyStore) {
			return messaging.Config{}, messaging.NewMemoryKeyStore(clock.System{}, time.Hour)
		},
		"postgres": func(t *testing.T) (messaging.Config, messaging.KeyStore) {
			pool := testenv.Postgres(t)
			return messaging.Config{UnitOfWork: messaging.UnitOfWork(pool)}, messaging.NewPostgresKeyStore(pool, time.Hour)
		},
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, keys := store(t)
			r := newRequeueRig(t, cfg, keys, false)
			r.broken.Store(true)
			require.NoError(t, r.m.EventBus().Publish(context.Background(), &pingSent{N: 1}))
			poisoned := r.waitPoisoned(t, 1)
			require.Equal(t, "flaky", poisoned.Metadata.Get(middleware.PoisonedHandlerKey))
			at, err := time.Parse(time.RFC3339Nano, poisoned.Metadata.Get(messaging.PoisonedAtKey))
			require.NoError(t, err, "the router stamps when it poisoned the message")
			require.WithinDuration(t, time.Now(), at, time.Minute)
			require.Eventually(t, func() bool { return count(&r.steady, 1) == 1 }, 5*time.Second, time.Millisecond)

			r.broken.Store(false)
			require.NoError(t, r.m.Publisher().Publish(pingTopic, copyOf(poisoned, "")))
			r.transport.acked(t, "flaky", poisoned.UUID, 2)
			r.transport.acked(t, "steady", poisoned.UUID, 2)

			require.Equal(t, 1, count(&r.flaky, 1), "the poisoner handled the copy")
			require.Equal(t, 1, count(&r.steady, 1), "the other handler dropped it as done")
		})
	}
}

// A handler that is not deduplicated by key (idempotent by its own means)
// would take a copy again; RequeuedForKey keeps the copy from every
// handler but the one it names.
func TestARequeuedMessageReachesOnlyTheHandlerItIsFor(t *testing.T) {
	t.Parallel()
	r := newRequeueRig(t, messaging.Config{}, messaging.NewMemoryKeyStore(clock.System{}, time.Hour), true)
	r.broken.Store(true)
	require.NoError(t, r.m.EventBus().Publish(context.Background(), &pingSent{N: 1}))
	poisoned := r.waitPoisoned(t, 1)

	require.Eventually(t, func() bool { return count(&r.steady, 1) == 1 }, 5*time.Second, time.Millisecond)
	r.broken.Store(false)
	require.NoError(t, r.m.Publisher().Publish(pingTopic, copyOf(poisoned, "flaky")))
	r.transport.acked(t, "flaky", poisoned.UUID, 2)
	r.transport.acked(t, "steady", poisoned.UUID, 2)
	require.Equal(t, 1, count(&r.flaky, 1))
	require.Equal(t, 1, count(&r.steady, 1), "the handler without deduplication let the requeued copy pass")

	// Without the target it would have handled it twice.
	require.NoError(t, r.m.Publisher().Publish(pingTopic, copyOf(poisoned, "")))
	r.transport.acked(t, "steady", poisoned.UUID, 3)
	require.Equal(t, 2, count(&r.steady, 1))

	require.True(t, r.m.Handles("flaky"))
	require.True(t, r.m.Handles("steady"))
	require.False(t, r.m.Handles("keep"), "a poison handler is no requeue target")
	require.False(t, r.m.Handles("gone"))
}

// A requeued message refused again goes back to the poison queue, with its
// target, and its poison handlers see it there.
func TestARequeuedMessageRefusedAgainIsPoisonedAgain(t *testing.T) {
	t.Parallel()
	r := newRequeueRig(t, messaging.Config{}, messaging.NewMemoryKeyStore(clock.System{}, time.Hour), false)
	r.broken.Store(true)
	require.NoError(t, r.m.EventBus().Publish(context.Background(), &pingSent{N: 1}))
	first := r.waitPoisoned(t, 1)

	require.NoError(t, r.m.Publisher().Publish(pingTopic, copyOf(first, "flaky")))
	again := r.waitPoisoned(t, 2)
	require.Equal(t, first.UUID, again.UUID)
	require.Equal(t, "flaky", again.Metadata.Get(middleware.PoisonedHandlerKey))
	require.Equal(t, "flaky", again.Metadata.Get(messaging.RequeuedForKey))
	r.transport.acked(t, "steady", first.UUID, 2)
	require.Equal(t, 1, count(&r.steady, 1))
}

// A poison handler that fails gets the message again, as it was poisoned:
// it is not poisoned a second time (under the poison handler's name).
func TestAFailingPoisonHandlerGetsTheMessageAgainNotThePoisonQueue(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := messaging.New(messaging.Config{MaxRetries: 1, RetryInterval: time.Millisecond},
		messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(clock.System{}, time.Hour), logger)
	require.NoError(t, err)
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("picky", func(ctx context.Context, e *pingSent) error {
		if e.N == 2 {
			return messaging.Permanent(errors.New("refused for good"))
		}
		return messaging.Permanent(errors.New("unknown template"))
	})))
	var tries atomic.Int32
	var (
		mu   sync.Mutex
		kept []*message.Message
	)
	require.NoError(t, m.AddPoisonHandler("keep", func(msg *message.Message) error {
		if msg.Metadata.Get(middleware.ReasonForPoisonedKey) == "refused for good" {
			return messaging.Permanent(errors.New("cannot keep it"))
		}
		if tries.Add(1) <= 3 {
			return errors.New("database down")
		}
		mu.Lock()
		defer mu.Unlock()
		kept = append(kept, msg)
		return nil
	}))
	var observed atomic.Int32
	var handlers sync.Map
	require.NoError(t, m.AddPoisonObserver("log", func(msg *message.Message) {
		observed.Add(1)
		handlers.Store(msg.Metadata.Get(middleware.PoisonedHandlerKey), true)
	}))
	run(t, m)

	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 1}))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(kept) == 1 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	require.Equal(t, "picky", kept[0].Metadata.Get(middleware.PoisonedHandlerKey), "kept as it was poisoned")
	require.Equal(t, "unknown template", kept[0].Metadata.Get(middleware.ReasonForPoisonedKey))
	mu.Unlock()
	require.Equal(t, int32(4), tries.Load(), "three failures (a try and a retry, then a redelivery's try), then kept")

	// A permanent failure drops the message for that handler alone.
	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 2}))
	require.Eventually(t, func() bool { return observed.Load() == 2 }, 5*time.Second, time.Millisecond)
	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 3}))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(kept) == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, int32(3), observed.Load(), "nothing poisoned twice, nothing poisoned by the poison handler")
	_, byKeeper := handlers.Load("keep")
	require.False(t, byKeeper)
}
