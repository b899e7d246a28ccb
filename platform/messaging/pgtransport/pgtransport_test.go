package pgtransport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/pgtransport"
)

type orderPlaced struct {
	N int `json:"n"`
}

func (orderPlaced) Name() string { return "test.OrderPlaced.v1" }

type receiptSent struct {
	N int `json:"n"`
}

func (receiptSent) Name() string { return "test.ReceiptSent.v1" }

func start(t *testing.T, m *messaging.Messaging) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = m.Close() })
	select {
	case <-m.Running():
	case <-time.After(10 * time.Second):
		t.Fatal("router did not start")
	}
}

func TestSQLTransportSendsOnlyWhatTheHandlersTransactionCommitted(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	transport, err := pgtransport.NewSQL(pool, pgtransport.SQLConfig{PollInterval: 10 * time.Millisecond}, nil)
	require.NoError(t, err)
	m, err := messaging.New(messaging.Config{MaxRetries: 3, RetryInterval: time.Millisecond, UnitOfWork: messaging.UnitOfWork(pool)},
		transport, messaging.NewPostgresKeyStore(pool, time.Hour), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)

	var attempts atomic.Int32
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("SendReceiptOnOrderPlaced", func(ctx context.Context, e *orderPlaced) error {
		// Publish first, then fail once: the failed try's event must vanish.
		if err := m.EventBus().Publish(ctx, &receiptSent{N: e.N}); err != nil {
			return err
		}
		if attempts.Add(1) == 1 {
			return errors.New("failed after publishing")
		}
		return nil
	})))
	var mu sync.Mutex
	var receipts, audits []int
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("CountReceipts", func(ctx context.Context, e *receiptSent) error {
		mu.Lock()
		defer mu.Unlock()
		receipts = append(receipts, e.N)
		return nil
	})))
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("AuditReceipts", func(ctx context.Context, e *receiptSent) error {
		mu.Lock()
		defer mu.Unlock()
		audits = append(audits, e.N)
		return nil
	})))
	start(t, m)

	require.NoError(t, m.EventBus().Publish(context.Background(), &orderPlaced{N: 7}))

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(receipts) == 1 && len(audits) == 1
	}, 15*time.Second, 10*time.Millisecond)
	// Give a stray second receipt every chance to show up.
	require.NoError(t, m.EventBus().Publish(context.Background(), &orderPlaced{N: 8}))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(receipts) == 2 && len(audits) == 2
	}, 15*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int{7, 8}, receipts)
	require.Equal(t, []int{7, 8}, audits, "each handler of an event gets its own copy")
}

func TestOutboxForwardsOnlyCommittedMessagesAndDeletesThem(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	broker := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 16}, watermill.NopLogger{})
	received, err := broker.Subscribe(context.Background(), "events.test")
	require.NoError(t, err)
	outbox, err := pgtransport.NewOutbox(pool, broker, 10*time.Millisecond, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = outbox.Run(ctx) }()
	<-outbox.Running()
	t.Cleanup(func() { _ = outbox.Stop() })

	publishIn := func(commit bool, payload string) {
		uow, finish := db.Begin(context.Background(), pool)
		msg := message.NewMessage(watermill.NewUUID(), []byte(payload))
		msg.SetContext(uow)
		require.NoError(t, outbox.Publish("events.test", msg))
		var outcome error
		if !commit {
			outcome = errors.New("handler failed")
		}
		_ = finish(outcome)
	}
	publishIn(false, `"rolled back"`)
	publishIn(true, `"committed"`)

	select {
	case msg := <-received:
		require.Equal(t, `"committed"`, string(msg.Payload))
		msg.Ack()
	case <-time.After(10 * time.Second):
		t.Fatal("the committed message was not forwarded")
	}
	select {
	case msg := <-received:
		t.Fatalf("forwarded a rolled-back message: %s", msg.Payload)
	case <-time.After(300 * time.Millisecond):
	}
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM wm_notifier_outbox`).Scan(&n))
		return n == 0
	}, 10*time.Second, 10*time.Millisecond, "forwarded rows are deleted")

	// Outside a unit of work the message goes straight to the broker.
	require.NoError(t, outbox.Publish("events.test", message.NewMessage(watermill.NewUUID(), []byte(`"direct"`))))
	select {
	case msg := <-received:
		require.Equal(t, `"direct"`, string(msg.Payload))
	case <-time.After(10 * time.Second):
		t.Fatal("the direct message did not arrive")
	}
}

// stuckPublisher never returns from Publish until released: a broker
// connection that a mailing's backlog keeps busy.
type stuckPublisher struct{ release chan struct{} }

func (p stuckPublisher) Publish(string, ...*message.Message) error { <-p.release; return nil }
func (stuckPublisher) Close() error                                { return nil }

func TestTheTransactionalLaneOfTheOutboxForwardsWhileTheBulkLaneIsStuck(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	stuck := stuckPublisher{release: make(chan struct{})}
	codes := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 16}, watermill.NopLogger{})
	received, err := codes.Subscribe(context.Background(), "commands.test.transactional")
	require.NoError(t, err)
	outbox, err := pgtransport.NewOutbox(pool, stuck, 10*time.Millisecond, nil, pgtransport.WithTransactionalLane(pool, codes, 5*time.Millisecond))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = outbox.Run(ctx) }()
	<-outbox.Running()
	t.Cleanup(func() { cancel(); close(stuck.release); _ = outbox.Stop() })

	publish := func(topic, l, payload string) {
		uow, finish := db.Begin(context.Background(), pool)
		msg := message.NewMessage(watermill.NewUUID(), []byte(payload))
		msg.Metadata.Set(lane.MetadataKey, l)
		msg.SetContext(uow)
		require.NoError(t, outbox.Publish(topic, msg))
		require.NoError(t, finish(nil))
	}
	for i := range 50 {
		publish("commands.test", lane.Bulk, fmt.Sprintf(`"page %d"`, i))
	}
	publish("commands.test.transactional", lane.Transactional, `"code"`)
	select {
	case msg := <-received:
		require.Equal(t, `"code"`, string(msg.Payload))
		msg.Ack()
	case <-time.After(10 * time.Second):
		t.Fatal("the code waited behind the mailing in the outbox")
	}
	var bulk int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM wm_notifier_outbox`).Scan(&bulk))
	require.Equal(t, 50, bulk, "the bulk rows are still waiting for their broker")
}

// codeSent travels on the transactional lane: a queue in the SQL transport.
type codeSent struct {
	N int `json:"n"`
}

func (codeSent) Name() string     { return "test.CodeSent.v1" }
func (codeSent) RouteKey() string { return lane.Transactional }

// codeHandler consumes codeSent on the transactional lane; observer says
// whether it only watches the topic (messaging.Observer).
type codeHandler struct {
	name     string
	observer bool
	mu       *sync.Mutex
	got      *[]int
	failOnce *atomic.Bool
}

func (h codeHandler) HandlerName() string { return h.name }
func (codeHandler) NewEvent() any         { return &codeSent{} }
func (codeHandler) RouteKey() string      { return lane.Transactional }
func (h codeHandler) Observes() bool      { return h.observer }

func (h codeHandler) Handle(_ context.Context, e any) error {
	if h.failOnce != nil && h.failOnce.CompareAndSwap(true, false) {
		return errors.New("failed once")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.got = append(*h.got, e.(*codeSent).N)
	return nil
}

func TestAnObserverOfAQueueGetsEveryMessageBesideItsConsumer(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	transport, err := pgtransport.NewSQL(pool, pgtransport.SQLConfig{PollInterval: 10 * time.Millisecond}, nil)
	require.NoError(t, err)
	m, err := messaging.New(messaging.Config{MaxRetries: 3, RetryInterval: time.Millisecond, UnitOfWork: messaging.UnitOfWork(pool)},
		transport, messaging.NewPostgresKeyStore(pool, time.Hour), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	var (
		mu                 sync.Mutex
		consumed, observed []int
		failOnce           atomic.Bool
	)
	failOnce.Store(true)
	require.NoError(t, m.AddEventHandler(codeHandler{name: "ApplyCodes", mu: &mu, got: &consumed}))
	require.NoError(t, m.AddEventHandler(codeHandler{name: "WatchCodes", observer: true, mu: &mu, got: &observed, failOnce: &failOnce}))
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("SendCodeOnOrderPlaced", func(ctx context.Context, e *orderPlaced) error {
		return m.EventBus().Publish(ctx, &codeSent{N: e.N}) // in the handler's transaction
	})))
	start(t, m)

	require.NoError(t, m.EventBus().Publish(context.Background(), &codeSent{N: 1})) // outside any
	require.NoError(t, m.EventBus().Publish(context.Background(), &orderPlaced{N: 2}))

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(consumed) == 2 && len(observed) == 2
	}, 15*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // a stray copy would show up by now
	mu.Lock()
	defer mu.Unlock()
	require.ElementsMatch(t, []int{1, 2}, consumed, "the queue's consumer lost nothing to the observer")
	require.ElementsMatch(t, []int{1, 2}, observed, "the observer got its own copies, one failed and retried")
}
