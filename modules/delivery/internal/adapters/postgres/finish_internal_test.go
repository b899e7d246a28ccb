package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// gate holds the first pgx batch sent until it is opened, and counts the
// batches.
type gate struct {
	batches atomic.Int32
	first   sync.Once
	open    chan struct{}
}

func (g *gate) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (g *gate) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (g *gate) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	g.batches.Add(1)
	g.first.Do(func() { <-g.open })
	return ctx
}
func (g *gate) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (g *gate) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func TestMarksArrivingDuringAWriteGoOutTogetherInTheNextOne(t *testing.T) {
	t.Parallel()
	cfg := testenv.Postgres(t).Config()
	g := &gate{open: make(chan struct{})}
	cfg.ConnConfig.Tracer = g
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := New(pool)
	require.NoError(t, err)

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	keys := make([]domain.Key, 20)
	for i := range keys {
		keys[i] = domain.Key{PostingID: "p1", UserID: fmt.Sprintf("u%02d", i), Channel: "email"}
	}
	// InsertPending is the gated first batch: let it through.
	close(g.open)
	_, err = s.InsertPending(context.Background(), keys, at)
	require.NoError(t, err)
	g.first = sync.Once{}
	g.open = make(chan struct{})
	g.batches.Store(0)

	// A cancelled context does not stop a mark: the message is out.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	results := make([]bool, len(keys))
	errs := make([]error, len(keys))
	finish := func(i int) {
		status := delivery.StatusSent
		if i%5 == 4 {
			status = delivery.StatusFailed
		}
		_, results[i], errs[i] = s.Finish(ctx, keys[i], app.Final{Status: status, MessageID: keys[i].MessageID(), Attempted: true, At: at})
	}
	wg.Go(func() { finish(0) }) // writes alone, held at the gate
	require.Eventually(t, func() bool { return g.batches.Load() == 1 }, 5*time.Second, time.Millisecond)
	for i := 1; i < len(keys); i++ {
		wg.Go(func() { finish(i) })
	}
	// The same key twice: the second waits for the first's outcome.
	var again bool
	var againErr error
	require.Eventually(t, func() bool { return s.queued() == len(keys)-1 }, 5*time.Second, time.Millisecond)
	wg.Go(func() {
		_, again, againErr = s.Finish(ctx, keys[1], app.Final{Status: delivery.StatusExpired, At: at})
	})
	require.Eventually(t, func() bool { return s.queued() == len(keys) }, 5*time.Second, time.Millisecond)
	close(g.open)
	wg.Wait()

	for i := range keys {
		require.NoError(t, errs[i])
		require.True(t, results[i], "mark %d", i)
	}
	require.NoError(t, againErr)
	require.False(t, again, "the second mark of a key finds it final")
	require.Equal(t, int32(3), g.batches.Load(), "one write alone, one for the 19 marks queued behind it, one for the repeated key")

	page, err := s.ListByPosting(context.Background(), "p1", app.ListQuery{Limit: 100})
	require.NoError(t, err)
	for i, d := range page.Items {
		want := delivery.StatusSent
		if i%5 == 4 {
			want = delivery.StatusFailed
		}
		require.Equal(t, want, d.Status, d.Key)
		require.Equal(t, 1, d.Attempts)
	}
}

func TestAGroupWriteThatFailsFailsEveryMarkInIt(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	s, err := New(pool)
	require.NoError(t, err)
	testenv.MustExec(t, pool, `DROP TABLE deliveries CASCADE`)
	_, _, err = s.Finish(context.Background(), domain.Key{PostingID: "p", UserID: "u", Channel: "email"},
		app.Final{Status: delivery.StatusSent, At: time.Now()})
	require.ErrorContains(t, err, "finish delivery")
	require.Zero(t, s.queued())
	require.Zero(t, len(s.marks.writers), "the writer's place is given back")
}

// queued is how many marks wait for a group write.
func (s *Store) queued() int {
	s.marks.mu.Lock()
	defer s.marks.mu.Unlock()
	return len(s.marks.waiting)
}
