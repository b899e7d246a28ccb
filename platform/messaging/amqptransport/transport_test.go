package amqptransport_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/amqptransport"
)

const wait = 30 * time.Second

func TestNewRefusesAnInvalidConfigAndAnUnreachableBroker(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		cfg  amqptransport.Config
		want string
	}{
		"no URL":            {amqptransport.Config{}, "empty URL"},
		"negative prefetch": {amqptransport.Config{URL: "amqp://x", Prefetch: -1}, "prefetch"},
		"negative pool":     {amqptransport.Config{URL: "amqp://x", PublishChannels: -1}, "publish channels"},
		"empty external":    {amqptransport.Config{URL: "amqp://x", External: []string{""}}, "external"},
		"no broker there":   {amqptransport.Config{URL: "amqp://guest:guest@127.0.0.1:1/"}, "connect"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := amqptransport.New(tc.cfg, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestNamesArePrefixedExceptExternalExchanges(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{External: []string{"partner.events"}})

	require.Equal(t, b.prefix+pingTopic, tr.ExchangeName(pingTopic))
	require.Equal(t, b.prefix+pingTopic+"_posting.CreateOnPing", tr.QueueName(pingTopic, "posting.CreateOnPing"))
	require.Equal(t, "partner.events", tr.ExchangeName("partner.events"), "other services publish to it by its own name")
	require.Equal(t, b.prefix+"partner.events_eventintake.ConsumeEvents", tr.QueueName("partner.events", "eventintake.ConsumeEvents"))
	require.NoError(t, tr.Ping(context.Background()))
}

func TestEventReachesEachOfItsHandlersOnceAndACommandItsHandlerOnce(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{})
	b.removeAtEnd(t, tr, pingTopic, "amqptest.CountOnPing", "amqptest.AuditOnPing")
	b.removeAtEnd(t, tr, recordTopic, "amqptest.RecordPing")

	seen := newJournal()
	m := newMessaging(t, tr)
	for _, name := range []string{"amqptest.CountOnPing", "amqptest.AuditOnPing"} {
		require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler(name, func(_ context.Context, e *pingSent) error {
			seen.add(name, e.N)
			return nil
		})))
	}
	require.NoError(t, m.AddCommandHandler(cqrs.NewCommandHandler("amqptest.RecordPing", func(_ context.Context, c *recordPing) error {
		seen.add("amqptest.RecordPing", c.N)
		return nil
	})))
	run(t, m)

	ctx := context.Background()
	for n := 1; n <= 2; n++ {
		require.NoError(t, m.EventBus().Publish(ctx, &pingSent{N: n}))
		require.NoError(t, m.CommandBus().Send(ctx, &recordPing{N: n}))
	}

	// Each queue has one consumer, so the second message arrives after
	// the first and after any duplicate of it.
	for _, h := range []string{"amqptest.CountOnPing", "amqptest.AuditOnPing", "amqptest.RecordPing"} {
		require.Eventually(t, func() bool { return seen.has(h, 2) }, wait, 10*time.Millisecond, h)
		require.Equal(t, []int{1, 2}, seen.of(h), h)
	}
}

func TestReplicasOfAHandlerShareItsQueueSoEachCommandIsHandledOnce(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	const handler = "amqptest.RecordPing"
	var mu sync.Mutex
	handled := map[int]int{}
	var replicas []*messaging.Messaging
	var queue string
	for range 2 {
		tr := b.transport(t, amqptransport.Config{Prefetch: 2})
		queue = tr.QueueName(recordTopic, handler)
		b.removeAtEnd(t, tr, recordTopic, handler)
		m := newMessaging(t, tr)
		require.NoError(t, m.AddCommandHandler(cqrs.NewCommandHandler(handler, func(_ context.Context, c *recordPing) error {
			mu.Lock()
			defer mu.Unlock()
			handled[c.N]++
			return nil
		})))
		run(t, m)
		replicas = append(replicas, m)
	}
	// Running means every queue is declared; consumers start right after.
	require.Eventually(t, func() bool { return b.consumers(t, queue) == 2 }, wait, 10*time.Millisecond,
		"both replicas consume the one queue of the handler")

	const commands = 40
	for n := range commands {
		require.NoError(t, replicas[n%2].CommandBus().Send(context.Background(), &recordPing{N: n}))
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == commands
	}, wait, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for n, times := range handled {
		require.Equal(t, 1, times, "command %d", n)
	}
}

func TestPlainJSONPublishedToTheExternalExchangeReachesTheRawHandlerWithItsMessageID(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	external := testenv.Name("amqptest.events")
	tr := b.transport(t, amqptransport.Config{External: []string{external}})
	const handler = "amqptest.ConsumeEvents"
	b.removeAtEnd(t, tr, external, handler)

	var mu sync.Mutex
	var got []*message.Message
	m := newMessaging(t, tr)
	require.NoError(t, m.AddRawHandler(messaging.RawHandler{Name: handler, Topic: external, Handle: func(msg *message.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, msg)
		return nil
	}}))
	run(t, m)

	b.publishRaw(t, external, amqp.Publishing{
		ContentType: "application/json",
		MessageId:   "evt-42",
		Headers:     amqp.Table{"x-delivery-count": int64(1), "source": "auth"},
		Body:        []byte(`{"event":"user_registered","user_id":"u1"}`),
	})
	b.publishRaw(t, external, amqp.Publishing{ContentType: "application/json", Body: []byte(`{"event":"new_movies"}`)})

	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 }, wait, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.JSONEq(t, `{"event":"user_registered","user_id":"u1"}`, string(got[0].Payload))
	require.Equal(t, "evt-42", got[0].Metadata.Get(amqptransport.MessageIDKey))
	require.Equal(t, "auth", got[0].Metadata.Get("source"))
	require.JSONEq(t, `{"event":"new_movies"}`, string(got[1].Payload))
	require.Empty(t, got[1].Metadata.Get(amqptransport.MessageIDKey), "no message_id was sent")
	require.NotEmpty(t, got[1].UUID)
}

func TestMessagesPublishedBeforeTheRouterStartsWaitInInitializedQueues(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{})
	b.removeAtEnd(t, tr, pingTopic, "amqptest.CountOnPing", "amqptest.UndeclaredOnPing")

	require.NoError(t, tr.Initialize(pingTopic, "amqptest.CountOnPing"))
	require.NoError(t, tr.Initialize(pingTopic, "amqptest.CountOnPing"), "Initialize is idempotent")
	m := newMessaging(t, tr)
	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 1}))

	seen := newJournal()
	for _, name := range []string{"amqptest.CountOnPing", "amqptest.UndeclaredOnPing"} {
		require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler(name, func(_ context.Context, e *pingSent) error {
			seen.add(name, e.N)
			return nil
		})))
	}
	run(t, m)
	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 2}))

	require.Eventually(t, func() bool {
		return seen.has("amqptest.CountOnPing", 2) && seen.has("amqptest.UndeclaredOnPing", 2)
	}, wait, 10*time.Millisecond)
	require.Equal(t, []int{1, 2}, seen.of("amqptest.CountOnPing"), "the early event waited in the initialized queue")
	require.Equal(t, []int{2}, seen.of("amqptest.UndeclaredOnPing"), "without Initialize the broker drops what nobody's queue holds")
}

func TestPermanentFailureGoesToThePoisonQueueOverAMQP(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{})
	b.removeAtEnd(t, tr, pingTopic, "amqptest.PickyOnPing")
	b.removeAtEnd(t, tr, messaging.PoisonTopic, "amqptest.ObservePoison")

	var attempts atomic.Int32
	m := newMessaging(t, tr)
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("amqptest.PickyOnPing", func(context.Context, *pingSent) error {
		attempts.Add(1)
		return messaging.Permanent(errors.New("unknown template"))
	})))
	poisoned := make(chan *message.Message, 1)
	require.NoError(t, m.AddPoisonObserver("amqptest.ObservePoison", func(msg *message.Message) { poisoned <- msg }))
	run(t, m)

	sent, err := messaging.Marshaler().Marshal(&pingSent{N: 7})
	require.NoError(t, err)
	require.NoError(t, m.Publisher().Publish(pingTopic, sent))

	select {
	case msg := <-poisoned:
		require.Equal(t, sent.UUID, msg.UUID)
		require.JSONEq(t, `{"n":7}`, string(msg.Payload))
		require.Contains(t, msg.Metadata.Get(middleware.ReasonForPoisonedKey), "unknown template")
		require.Equal(t, "amqptest.PickyOnPing", msg.Metadata.Get(middleware.PoisonedHandlerKey))
		require.Equal(t, pingTopic, msg.Metadata.Get(middleware.PoisonedTopicKey))
	case <-time.After(wait):
		t.Fatal("nothing reached the poison queue")
	}
	require.Equal(t, int32(1), attempts.Load(), "a permanent failure is not retried")
	require.Zero(t, b.ready(t, tr.QueueName(pingTopic, "amqptest.PickyOnPing")), "the failed message left its queue")
}
