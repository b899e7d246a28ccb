package amqptransport_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/amqptransport"
)

// reconnectFast keeps the tests short; production uses the defaults.
var reconnectFast = amqptransport.Config{
	ReconnectInitialInterval: 50 * time.Millisecond,
	ReconnectMaxInterval:     time.Second,
}

func TestPublishersUnderLoadRecoverFromADroppedConnection(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, amqptransport.Config{PublishChannels: 4,
		ReconnectInitialInterval: reconnectFast.ReconnectInitialInterval, ReconnectMaxInterval: reconnectFast.ReconnectMaxInterval})
	const topic, handler = "load", "amqptest.Keep"
	b.removeAtEnd(t, tr, topic, handler)
	require.NoError(t, tr.Initialize(topic, handler))

	// More publishers than channels, so some always wait for one: the
	// case in which a lost channel would never come back to the pool.
	var confirmed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if tr.Publisher().Publish(topic, message.NewMessage(watermill.NewUUID(), []byte(`{}`))) == nil {
					confirmed.Add(1)
				}
			}
		})
	}
	stopped := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopped)

	require.Eventually(t, func() bool { return confirmed.Load() >= 100 }, wait, 10*time.Millisecond)
	b.dropConnections(t, "notifier-publish")
	atDrop := confirmed.Load()
	require.Eventually(t, func() bool { return confirmed.Load() >= atDrop+500 }, wait, 10*time.Millisecond,
		"publishing resumes on a new connection")

	done := make(chan struct{})
	go func() { stopped(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("publishers are stuck waiting for a channel")
	}
	require.GreaterOrEqual(t, int64(b.ready(t, tr.QueueName(topic, handler))), confirmed.Load(),
		"every confirmed message is in the queue")
}

// startCounting runs a router with one event handler recording into seen;
// gate, when not nil, holds the handler of message 1 until it is closed.
func startCounting(t *testing.T, tr *amqptransport.Transport, seen *journal, gate chan struct{}) *messaging.Messaging {
	t.Helper()
	m := newMessaging(t, tr)
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("amqptest.CountOnPing", func(_ context.Context, e *pingSent) error {
		if e.N == 1 && gate != nil {
			<-gate
		}
		seen.add("amqptest.CountOnPing", e.N)
		return nil
	})))
	run(t, m)
	return m
}

func TestHandlersResumeAfterTheBrokerDropsTheConnections(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	tr := b.transport(t, reconnectFast)
	b.removeAtEnd(t, tr, pingTopic, "amqptest.CountOnPing")
	seen := newJournal()
	gate := make(chan struct{})
	m := startCounting(t, tr, seen, gate)
	ctx := context.Background()

	// Message 1 is being handled and the others wait when the
	// connections drop.
	const before = 50
	for n := 1; n <= before; n++ {
		require.NoError(t, m.EventBus().Publish(ctx, &pingSent{N: n}))
	}
	b.dropConnections(t, "")
	close(gate)

	publishEventually(t, func() error { return m.EventBus().Publish(ctx, &pingSent{N: before + 1}) })
	require.Eventually(t, func() bool {
		for n := 1; n <= before+1; n++ {
			if !seen.has("amqptest.CountOnPing", n) {
				return false
			}
		}
		return true
	}, wait, 10*time.Millisecond, "every message is handled (at least once) on the new connections")
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.NoError(c, tr.Ping(ctx)) }, wait, 50*time.Millisecond)
}

// TestMessagesSurviveABrokerRestart stops and starts the RabbitMQ
// application mid-flow. It disrupts every other AMQP test on the machine,
// so it runs only with NOTIFIER_TEST_BROKER_RESTART=1, alone.
func TestMessagesSurviveABrokerRestart(t *testing.T) {
	if os.Getenv("NOTIFIER_TEST_BROKER_RESTART") != "1" {
		t.Skip("restarts the broker: set NOTIFIER_TEST_BROKER_RESTART=1 and run it alone")
	}
	b := newBroker(t)
	tr := b.transport(t, reconnectFast)
	b.removeAtEnd(t, tr, pingTopic, "amqptest.CountOnPing", "amqptest.LaterOnPing")
	// A handler that is not running: its queue must keep what arrives.
	require.NoError(t, tr.Initialize(pingTopic, "amqptest.LaterOnPing"))
	seen := newJournal()
	m := startCounting(t, tr, seen, nil)
	ctx := context.Background()

	require.NoError(t, m.EventBus().Publish(ctx, &pingSent{N: 1}))
	require.Eventually(t, func() bool { return seen.has("amqptest.CountOnPing", 1) }, wait, 10*time.Millisecond)

	rabbitmqctl(t, "stop_app")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			rabbitmqctl(t, "start_app")
		}
	})
	require.Error(t, tr.Ping(ctx), "the broker is down")
	require.Error(t, m.EventBus().Publish(ctx, &pingSent{N: 99}), "nothing is confirmed while the broker is down")
	rabbitmqctl(t, "start_app")
	restarted = true
	b.redial(t) // the test's own connection went down with the broker

	publishEventually(t, func() error { return m.EventBus().Publish(ctx, &pingSent{N: 2}) })
	require.Eventually(t, func() bool { return seen.has("amqptest.CountOnPing", 2) }, 2*time.Minute, 10*time.Millisecond,
		"the consumer came back after the restart")
	require.Equal(t, []int{1, 2}, seen.of("amqptest.CountOnPing"))
	require.Equal(t, 2, b.ready(t, tr.QueueName(pingTopic, "amqptest.LaterOnPing")),
		"the persistent message published before the restart is still queued, with the one after")
	require.NoError(t, tr.Ping(ctx))
}
