package amqptransport_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/amqptransport"
)

const poisoned = `{"details":{"username":"anna@example.com","phone":"+79001234567"}}`

// declareQueue declares, as the test's own client, a durable queue named
// after the test's prefix with args, bound to exchange (which must exist).
func (b *broker) declareQueue(t testing.TB, name, exchange string, args amqp.Table) string {
	t.Helper()
	ch, err := b.conn.Channel()
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	name = b.prefix + name
	_, err = ch.QueueDeclare(name, true, false, false, false, args)
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(name, "", exchange, false, nil))
	return name
}

// declareAsBefore declares the exchange of topic and the queue of handler
// as a version of Notifier without the poison TTL did: no arguments.
func (b *broker) declareAsBefore(t testing.TB, tr *amqptransport.Transport, topic, handler string) {
	t.Helper()
	ch, err := b.conn.Channel()
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	exchange, queue := tr.ExchangeName(topic), tr.QueueName(topic, handler)
	require.NoError(t, ch.ExchangeDeclare(exchange, amqp.ExchangeFanout, true, false, false, false, nil))
	_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(queue, "", exchange, false, nil))
}

// get takes the next message of queue, which must hold one.
func (b *broker) get(t testing.TB, queue string) amqp.Delivery {
	t.Helper()
	ch, err := b.conn.Channel()
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	d, ok, err := ch.Get(queue, true)
	require.NoError(t, err)
	require.True(t, ok, "%s holds a message", queue)
	return d
}

func TestThePoisonQueueDropsAMessageOnceItsTTLHasPassed(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{PoisonTTL: 300 * time.Millisecond})
	require.NoError(t, tr.Initialize(messaging.PoisonTopic, "retained"))
	retained := tr.QueueName(messaging.PoisonTopic, "retained")
	exchange := tr.ExchangeName(messaging.PoisonTopic)
	control := b.declareQueue(t, "control", exchange, nil)

	// Published as an older replica would: without an expiration of its
	// own, so only the queue's TTL can drop it.
	b.publishRaw(t, exchange, amqp.Publishing{Body: []byte(poisoned), DeliveryMode: amqp.Persistent})

	require.Equal(t, 1, b.ready(t, control), "the exchange routed it to every queue bound to it")
	require.Eventually(t, func() bool { return b.ready(t, retained) == 0 }, wait, 20*time.Millisecond,
		"the retained poison queue drops it after the TTL")
	require.Equal(t, 1, b.ready(t, control), "a queue without the TTL keeps it: the TTL dropped it")
	require.NoError(t, tr.Initialize(messaging.PoisonTopic, "retained"), "declaring it again with the same TTL is fine")
}

func TestEveryMessageSentToThePoisonTopicCarriesTheTTLAsItsExpiration(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{PoisonTTL: time.Hour})
	require.NoError(t, tr.Initialize(messaging.PoisonTopic, "retained"))
	require.NoError(t, tr.Initialize(pingTopic, "amqptest.CountOnPing"))
	poison := b.declareQueue(t, "poison_control", tr.ExchangeName(messaging.PoisonTopic), nil)
	other := b.declareQueue(t, "ping_control", tr.ExchangeName(pingTopic), nil)

	require.NoError(t, tr.Publisher().Publish(messaging.PoisonTopic, message.NewMessage(watermill.NewUUID(), []byte(poisoned))))
	require.NoError(t, tr.Publisher().Publish(pingTopic, message.NewMessage(watermill.NewUUID(), []byte(`{}`))))

	require.Equal(t, "3600000", b.get(t, poison).Expiration, "the TTL in milliseconds")
	require.Empty(t, b.get(t, other).Expiration, "other topics' messages do not expire")
}

func TestAPoisonQueueDeclaredWithoutTheTTLIsKeptAndReportedAndItsNewMessagesStillExpire(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	logs := watermill.NewCaptureLogger()
	tr, err := amqptransport.New(amqptransport.Config{URL: b.url, Prefix: b.prefix, PoisonTTL: 300 * time.Millisecond}, logs)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	// An installation upgraded from a version whose poison queues have no
	// TTL: RabbitMQ refuses to declare them again with one.
	b.declareAsBefore(t, tr, messaging.PoisonTopic, "retained")
	b.declareAsBefore(t, tr, messaging.PoisonTopic, "amqptest.LogPoisoned")
	retained := tr.QueueName(messaging.PoisonTopic, "retained")

	require.NoError(t, tr.Initialize(messaging.PoisonTopic, "retained"), "the transport still starts")
	require.NoError(t, tr.Initialize(messaging.PoisonTopic, "retained"))
	sub, err := tr.Subscriber("amqptest.LogPoisoned")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	_, err = sub.Subscribe(context.Background(), messaging.PoisonTopic)
	require.NoError(t, err, "and consumes the poison topic")
	require.Eventually(t, func() bool {
		return b.consumers(t, tr.QueueName(messaging.PoisonTopic, "amqptest.LogPoisoned")) == 1
	}, wait, 10*time.Millisecond)

	var reports []watermill.CapturedMessage
	for _, m := range logs.Captured()[watermill.ErrorLogLevel] {
		if strings.Contains(m.Msg, "Poison queue kept without the configured TTL") {
			reports = append(reports, m)
		}
	}
	require.Len(t, reports, 2, "each queue is reported once, however often it is declared")
	require.Contains(t, []any{reports[0].Fields["queue"], reports[1].Fields["queue"]}, retained)
	require.Contains(t, reports[0].Fields["fix"], "policy")

	// A queue of the test's own, without a TTL, dead-letters what expires
	// in it: the proof that the message arrived and expired by itself.
	exchange := tr.ExchangeName(messaging.PoisonTopic)
	ch, err := b.conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.ExchangeDeclare(b.prefix+"expired", amqp.ExchangeFanout, false, false, false, false, nil))
	require.NoError(t, ch.Close())
	expired := b.declareQueue(t, "expired", b.prefix+"expired", nil)
	b.declareQueue(t, "control", exchange, amqp.Table{"x-dead-letter-exchange": b.prefix + "expired"})

	require.NoError(t, tr.Publisher().Publish(messaging.PoisonTopic, message.NewMessage(watermill.NewUUID(), []byte(poisoned))))

	require.Eventually(t, func() bool { return b.ready(t, expired) == 1 }, wait, 20*time.Millisecond,
		"the message expired by its own expiration")
	require.Eventually(t, func() bool { return b.ready(t, retained) == 0 }, wait, 20*time.Millisecond,
		"the old poison queue no longer keeps new messages forever")
}

func TestAPoisonTTLBelowAMillisecondIsRefused(t *testing.T) {
	t.Parallel()
	for _, ttl := range []time.Duration{-time.Second, time.Microsecond} {
		_, err := amqptransport.New(amqptransport.Config{URL: "amqp://x", PoisonTTL: ttl}, nil)
		require.ErrorContains(t, err, "poison TTL", ttl.String())
	}
}
