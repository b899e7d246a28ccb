package amqptransport_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/messaging/amqptransport"
)

// subscribed publishes n messages to a fresh queue of its own and returns
// what the subscriber of that queue hands over, with the queue's name.
func subscribed(t *testing.T, tr *amqptransport.Transport, b *broker, n int) (message.Subscriber, <-chan *message.Message, []string, string) {
	t.Helper()
	const topic, handler = "consume", "amqptest.Consume"
	b.removeAtEnd(t, tr, topic, handler)
	require.NoError(t, tr.Initialize(topic, handler))
	var ids []string
	for range n {
		msg := message.NewMessage(watermill.NewUUID(), []byte(`{}`))
		require.NoError(t, tr.Publisher().Publish(topic, msg))
		ids = append(ids, msg.UUID)
	}
	sub, err := tr.Subscriber(handler)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	msgs, err := sub.Subscribe(context.Background(), topic)
	require.NoError(t, err)
	return sub, msgs, ids, tr.QueueName(topic, handler)
}

// noMore checks that nothing more is handed over for a while.
func noMore(t *testing.T, msgs <-chan *message.Message, why string) {
	t.Helper()
	require.Never(t, func() bool {
		select {
		case <-msgs:
			return true
		default:
			return false
		}
	}, 200*time.Millisecond, 10*time.Millisecond, why)
}

// next returns the next message handed over.
func next(t *testing.T, msgs <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-msgs:
		require.True(t, ok, "the subscription ended")
		return msg
	case <-time.After(wait):
		t.Fatal("no message handed over")
		return nil
	}
}

func TestTheBrokerStreamsAheadButTheSubscriberHandsOverOneMessageAtATime(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{Prefetch: 20})
	_, msgs, ids, queue := subscribed(t, tr, b, 3)

	first := next(t, msgs)
	require.Equal(t, ids[0], first.UUID)
	require.Eventually(t, func() bool { return b.ready(t, queue) == 0 }, wait, 10*time.Millisecond,
		"the prefetch lets the broker send all three ahead")
	noMore(t, msgs, "the second waits until the first is settled")

	first.Ack()
	second := next(t, msgs)
	require.Equal(t, ids[1], second.UUID)
	second.Ack()
}

func TestWithConcurrencyTheSubscriberHandsOverThatManyMessagesAtOnce(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{Prefetch: 20, Concurrency: 2})
	_, msgs, ids, _ := subscribed(t, tr, b, 4)

	first, second := next(t, msgs), next(t, msgs)
	require.ElementsMatch(t, ids[:2], []string{first.UUID, second.UUID}, "two in flight at once")
	noMore(t, msgs, "not a third while two are unsettled")

	second.Ack()
	third := next(t, msgs)
	require.Equal(t, ids[2], third.UUID, "settling one frees its place")
	first.Nack()
	fourth := next(t, msgs)
	require.Contains(t, []string{ids[0], ids[3]}, fourth.UUID)
	third.Ack()
	fourth.Ack()
}

func TestANackedMessageComesBackAndAnAckedOneLeavesTheQueue(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{})
	sub, msgs, ids, queue := subscribed(t, tr, b, 1)

	msg := next(t, msgs)
	require.Equal(t, ids[0], msg.UUID)
	msg.Nack()
	again := next(t, msgs)
	require.Equal(t, ids[0], again.UUID, "requeued and delivered again")
	again.Ack()

	require.NoError(t, sub.Close())
	require.NoError(t, tr.Close())
	require.Zero(t, b.ready(t, queue), "the ack reached the broker before the connection closed")
}

func TestClosingCancelsTheMessageInFlightAndWaitsForItsAck(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{})
	sub, msgs, _, queue := subscribed(t, tr, b, 1)
	msg := next(t, msgs)

	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case <-msg.Context().Done():
	case <-time.After(wait):
		t.Fatal("the context of the message in flight is not cancelled by Close")
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the message in flight was settled", err)
	default:
	}

	msg.Ack() // the handler finishes its work and acks
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Close is stuck")
	}
	_, open := <-msgs
	require.False(t, open, "the output channel is closed")
	require.NoError(t, sub.Close(), "Close is idempotent")
	_, err := sub.Subscribe(context.Background(), "consume")
	require.Error(t, err, "a closed subscriber does not subscribe again")

	require.NoError(t, tr.Close())
	require.Zero(t, b.ready(t, queue), "the message acked during Close is gone")
}

func TestClosingGivesUpOnAMessageNotSettledWithinTheCloseTimeout(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{CloseTimeout: 100 * time.Millisecond})
	sub, msgs, ids, queue := subscribed(t, tr, b, 1)
	require.Equal(t, ids[0], next(t, msgs).UUID)

	require.ErrorContains(t, sub.Close(), "in flight")
	require.NoError(t, tr.Close())
	require.Eventually(t, func() bool { return b.ready(t, queue) == 1 }, wait, 10*time.Millisecond,
		"the unsettled message is back in the queue for redelivery")
}

func TestTheOutputChannelClosesWhenTheSubscriptionContextEnds(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{})
	const topic, handler = "consume", "amqptest.Consume"
	b.removeAtEnd(t, tr, topic, handler)
	sub, err := tr.Subscriber(handler)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := sub.Subscribe(ctx, topic)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.consumers(t, tr.QueueName(topic, handler)) == 1 }, wait, 10*time.Millisecond)

	cancel()
	select {
	case _, open := <-msgs:
		require.False(t, open)
	case <-time.After(wait):
		t.Fatal("the output channel stays open")
	}
	require.Eventually(t, func() bool { return b.consumers(t, tr.QueueName(topic, handler)) == 0 }, wait, 10*time.Millisecond,
		"the consumer is cancelled")
	require.NoError(t, sub.Close())
}

func TestASubscriberConsumesAgainAfterItsConnectionDrops(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, reconnectFast)
	_, msgs, ids, _ := subscribed(t, tr, b, 2)

	first := next(t, msgs)
	require.Equal(t, ids[0], first.UUID)
	b.dropConnections(t, "notifier-consume")
	first.Ack() // too late: the channel is gone, so the broker redelivers it

	got := map[string]bool{}
	for !got[ids[0]] || !got[ids[1]] {
		msg := next(t, msgs)
		got[msg.UUID] = true
		msg.Ack()
	}
	require.NoError(t, tr.Ping(context.Background()))
}
