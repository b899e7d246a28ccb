package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/migrations"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/platform/db"
)

// These tests run on PostgreSQL, where the messages are the outbox of the
// events that caused them and several processes share them.

// postgresStore returns a store on a fresh schema, its pool, and a way to
// open the same database as another process would.
func postgresStore(t *testing.T) (*postgres.Store, *pgxpool.Pool, func() app.Store) {
	t.Helper()
	dbURL, _ := testenv.Schema(t)
	open := func() app.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pool, err := db.Open(ctx, dbURL)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		s, err := postgres.New(db.Pools{Bulk: pool})
		require.NoError(t, err)
		return s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := db.Open(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, db.Migrate(ctx, pool, migrations.FS, nil))
	s, err := postgres.New(db.Pools{Bulk: pool})
	require.NoError(t, err)
	return s, pool, open
}

func TestMessagesAreStoredWithTheirEventAndARestartSendsThem(t *testing.T) {
	t.Parallel()
	store, pool, open := postgresStore(t)
	w := newWorldOn(t, store, nil)
	r := newReceiver(t, answer(200))
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	ctx := context.Background()

	// The event's handler writes its messages in the event's transaction:
	// nothing is sent before it commits.
	uow, finish := db.Begin(ctx, pool)
	require.NoError(t, w.outcomes.Handle(uow, batchOf(3, delivery.StatusSent, w.clock.Now())))
	require.Zero(t, w.dispatch(t), "not committed yet: nothing to send")
	require.NoError(t, finish(nil))

	// The process "crashes" before its dispatcher sends anything; another
	// process, on the same database, sends every message.
	restarted := w.dispatcher(t, open())
	n, err := restarted.Tick(ctx)
	require.NoError(t, err)
	restarted.Wait()
	require.Equal(t, 3, n)
	require.Len(t, r.got(), 3)
	for _, c := range r.got() {
		require.NoError(t, verify(t, e.Secret, c, true))
	}
	require.Zero(t, w.endpoint(t, e.ID).Pending)
}

func TestACallCutShortByACrashIsSentAgainWithTheSameWebhookID(t *testing.T) {
	t.Parallel()
	store, _, open := postgresStore(t)
	w := newWorldOn(t, store, nil)
	release := make(chan struct{})
	var calls atomic.Int32
	r := newReceiver(t, func(int, call) int {
		if calls.Add(1) == 1 {
			<-release
		}
		return 200
	})
	t.Cleanup(func() { close(release) })
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	w.sent(t, postingID, "u1")

	crashed, cancel := context.WithCancel(context.Background())
	_, err := w.d.Tick(crashed)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(r.got()) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	w.d.Wait()

	other := w.dispatcher(t, open())
	n, err := other.Tick(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "the dead process's lease holds")
	w.clock.Advance(w.cfg.Timeout + time.Minute)
	n, err = other.Tick(context.Background())
	require.NoError(t, err)
	other.Wait()
	require.Equal(t, 1, n)
	got := r.got()
	require.Len(t, got, 2)
	require.Equal(t, got[0].ID(), got[1].ID(), "the receiver can tell it is the same message")
	require.Zero(t, w.endpoint(t, e.ID).Pending)
}

func TestTwoInstancesNeverSendOneMessageAtOnce(t *testing.T) {
	t.Parallel()
	store, _, open := postgresStore(t)
	w := newWorldOn(t, store, func(c *app.DispatcherConfig) { c.Concurrency, c.EndpointConcurrency = 4, 4 })
	var (
		mu    sync.Mutex
		calls = map[string]int{}
	)
	r := newReceiver(t, func(_ int, c call) int {
		mu.Lock()
		calls[c.ID()]++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		return 200
	})
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	const n = 60
	for i := range n {
		w.sent(t, postingID, fmt.Sprintf("u%d", i))
	}
	instances := []*app.Dispatcher{w.d, w.dispatcher(t, open())}

	var wg sync.WaitGroup
	for _, d := range instances {
		wg.Go(func() {
			for w.endpoint(t, e.ID).Pending > 0 {
				if _, err := d.Tick(context.Background()); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
			d.Wait()
		})
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, n)
	for id, times := range calls {
		require.Equal(t, 1, times, "%s sent %d times", id, times)
	}
}
