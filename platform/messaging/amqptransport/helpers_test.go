package amqptransport_test

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/amqptransport"
)

// pingSent is the test event; recordPing the test command.
type pingSent struct {
	N int `json:"n"`
}

func (pingSent) Name() string { return "amqptest.PingSent.v1" }

type recordPing struct {
	N int `json:"n"`
}

func (recordPing) Name() string { return "amqptest.RecordPing.v1" }

var (
	pingTopic   = messaging.EventTopic(pingSent{}.Name(), "")
	recordTopic = messaging.CommandTopic(recordPing{}.Name(), "")
)

// broker is the real RabbitMQ of one test, with names of its own: every
// exchange and queue its transports create starts with prefix and is
// deleted when the test ends.
type broker struct {
	url    string
	prefix string
	conn   *amqp.Connection
}

func newBroker(t testing.TB) *broker {
	t.Helper()
	url := testenv.AMQPURL(t)
	conn, err := amqp.Dial(url)
	if err != nil {
		testenv.Unavailable(t, "RabbitMQ", err)
	}
	b := &broker{url: url, prefix: testenv.AMQPPrefix(t, url) + ".", conn: conn}
	t.Cleanup(func() { _ = b.conn.Close() })
	return b
}

// redial replaces the test's own connection after the broker restarted.
func (b *broker) redial(t testing.TB) {
	t.Helper()
	conn, err := amqp.Dial(b.url)
	require.NoError(t, err)
	_ = b.conn.Close()
	b.conn = conn
}

// transport returns a transport on the test's names, closed at the end.
func (b *broker) transport(t testing.TB, cfg amqptransport.Config) *amqptransport.Transport {
	t.Helper()
	cfg.URL, cfg.Prefix = b.url, b.prefix
	tr, err := amqptransport.New(cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// removeAtEnd deletes the exchange of topic and the queues of handlers
// when the test ends (after everything registered later has closed).
func (b *broker) removeAtEnd(t testing.TB, tr *amqptransport.Transport, topic string, handlers ...string) {
	t.Helper()
	t.Cleanup(func() {
		ch, err := b.conn.Channel()
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer func() { _ = ch.Close() }()
		for _, h := range handlers {
			if _, err := ch.QueueDelete(tr.QueueName(topic, h), false, false, false); err != nil {
				t.Logf("cleanup: %v", err)
				return
			}
		}
		if err := ch.ExchangeDelete(tr.ExchangeName(topic), false, false); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
}

// inspect returns the state of queue, which must exist.
func (b *broker) inspect(t testing.TB, queue string) amqp.Queue {
	t.Helper()
	ch, err := b.conn.Channel()
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	require.NoError(t, err)
	return q
}

// ready returns how many messages wait in queue, not yet delivered.
func (b *broker) ready(t testing.TB, queue string) int { return b.inspect(t, queue).Messages }

// consumers returns how many consumers queue has.
func (b *broker) consumers(t testing.TB, queue string) int { return b.inspect(t, queue).Consumers }

// publishRaw publishes body to exchange as a client without Watermill does.
func (b *broker) publishRaw(t testing.TB, exchange string, p amqp.Publishing) {
	t.Helper()
	ch, err := b.conn.Channel()
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	require.NoError(t, ch.Confirm(false))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, "", false, false, p)
	require.NoError(t, err)
	ok, err := conf.WaitContext(ctx)
	require.NoError(t, err)
	require.True(t, ok, "the broker confirms the message")
}

// rabbitmqctl runs rabbitmqctl on the broker's machine.
func rabbitmqctl(t testing.TB, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		testenv.Unavailable(t, "rabbitmqctl (the broker must be local)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	require.NoError(t, err, "rabbitmqctl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// dropConnections makes the broker close the connections of the test's
// transports whose name starts with the test's prefix then namePrefix
// ("" for all, "notifier-publish" for the publishers'), as a broker
// failover or a network cut would; other tests' connections are left
// alone.
func (b *broker) dropConnections(t testing.TB, namePrefix string) {
	t.Helper()
	out := rabbitmqctl(t, "list_connections", "-q", "--no-table-headers", "pid", "client_properties")
	closed := 0
	for line := range strings.Lines(out) {
		pid, props, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok || !strings.Contains(props, `{"connection_name","`+b.prefix+namePrefix) {
			continue
		}
		rabbitmqctl(t, "close_connection", pid, "test: dropped by "+t.Name())
		closed++
	}
	require.Positive(t, closed, "the test's connections are listed by the broker")
}

// noDedup is a KeyStore that never drops a message, so a duplicate
// delivered by the transport shows up in the handler.
type noDedup struct{}

func (noDedup) Claim(context.Context, string) (bool, error) { return false, nil }
func (noDedup) Complete(context.Context, string) error      { return nil }
func (noDedup) Release(context.Context, string) error       { return nil }

// newMessaging returns the Notifier router and buses on tr, without
// deduplication; register adds handlers before it runs.
func newMessaging(t testing.TB, tr messaging.Transport) *messaging.Messaging {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := messaging.New(messaging.Config{MaxRetries: 2, RetryInterval: time.Millisecond, CloseTimeout: 10 * time.Second},
		tr, noDedup{}, logger)
	require.NoError(t, err)
	return m
}

// run runs m until the test ends (or stop is called) and waits until
// every handler consumes.
func run(t testing.TB, m *messaging.Messaging) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		_ = m.Close()
		cancel()
		<-done
	})
	t.Cleanup(stop)
	select {
	case <-m.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("router did not start")
	}
	return stop
}

// journal records what each handler saw, in order.
type journal struct {
	mu   sync.Mutex
	seen map[string][]int
}

func newJournal() *journal { return &journal{seen: map[string][]int{}} }

func (l *journal) add(handler string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[handler] = append(l.seen[handler], n)
}

func (l *journal) of(handler string) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen[handler])
}

// has reports whether handler saw n.
func (l *journal) has(handler string, n int) bool { return slices.Contains(l.of(handler), n) }

// publishEventually publishes until the publisher accepts: right after a
// connection loss it refuses until it has reconnected.
func publishEventually(t testing.TB, publish func() error) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, publish(), "publish after reconnection")
	}, 2*time.Minute, 50*time.Millisecond)
}
