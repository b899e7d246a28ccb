package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// roundTrips counts what a pool sends to the server: single statements and
// pgx batches (a batch goes in one round trip), and keeps the statements of
// the batches.
type roundTrips struct {
	queries, batches atomic.Int32
	mu               sync.Mutex
	batched          []string
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.queries.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.batches.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batched = append(r.batched, strings.Join(strings.Fields(d.SQL), " "))
}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *roundTrips) total() int32 { return r.queries.Load() + r.batches.Load() }

func tracedStore(t *testing.T) (*postgres.Store, *roundTrips) {
	t.Helper()
	s, tracer, _ := tracedStoreAndPool(t)
	return s, tracer
}

// tracedStoreAndPool is tracedStore with the pool it uses.
func tracedStoreAndPool(t *testing.T) (*postgres.Store, *roundTrips, *pgxpool.Pool) {
	t.Helper()
	cfg := testenv.Postgres(t).Config()
	tracer := &roundTrips{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := postgres.New(pool)
	require.NoError(t, err)
	return s, tracer, pool
}

func keys(n int) []domain.Key {
	out := make([]domain.Key, n)
	for i := range out {
		out[i] = domain.Key{PostingID: "p1", UserID: fmt.Sprintf("user-%04d", i), Channel: "email"}
	}
	return out
}

func TestBatchOperationsTakeOneRoundTripWhateverTheBatchSize(t *testing.T) {
	t.Parallel()
	s, trips := tracedStore(t)
	ctx := context.Background()
	batch := keys(500)

	pending, err := s.InsertPending(ctx, batch, at)
	require.NoError(t, err)
	require.Len(t, pending, 500)
	require.Equal(t, int32(1), trips.total(), "insert-if-absent and the read of what is pending: one pgx batch")

	skips := make([]app.Transition, len(batch))
	for i, k := range batch {
		skips[i] = app.Transition{Key: k, Final: app.Final{Status: delivery.StatusSkipped, Error: "opted out", At: at}}
	}
	n, err := s.FinishMany(ctx, skips)
	require.NoError(t, err)
	require.Equal(t, 500, n)
	require.Equal(t, int32(2), trips.total(), "finishing many rows: one statement")

	before := trips.total()
	reported, err := s.Report(ctx, app.ReportScope{PostingID: "p1", Keys: batch}, func(context.Context, []domain.Delivery) error { return nil })
	require.NoError(t, err)
	require.Equal(t, 500, reported)
	require.Equal(t, int32(3), trips.total()-before, "report: BEGIN, one UPDATE … RETURNING, COMMIT")
}

func TestPerRowMarksCommitAtOnceWithoutWaitingForTheDiskInOneRoundTrip(t *testing.T) {
	t.Parallel()
	s, trips := tracedStore(t)
	ctx := context.Background()
	k := keys(1)[0]
	_, err := s.InsertPending(ctx, []domain.Key{k}, at)
	require.NoError(t, err)

	before := trips.total()
	stillPending, err := s.RecordAttempt(ctx, k, "smtp: 451 4.3.0", at)
	require.NoError(t, err)
	require.True(t, stillPending)
	_, changed, err := s.Finish(ctx, k, app.Final{Status: delivery.StatusSent, MessageID: k.MessageID(), Attempted: true, At: at})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, int32(2), trips.total()-before, "one round trip per mark")

	trips.mu.Lock()
	marks := trips.batched[len(trips.batched)-10:]
	trips.mu.Unlock()
	for _, m := range [][]string{marks[:5], marks[5:]} {
		require.Equal(t, "BEGIN", m[0])
		require.Equal(t, "SET LOCAL synchronous_commit = off", m[1])
		require.Equal(t, "SET LOCAL plan_cache_mode = auto", m[2], "a key lookup may keep its generic plan")
		require.True(t, strings.HasPrefix(m[3], "UPDATE deliveries"), m[3])
		require.Equal(t, "COMMIT", m[4])
	}

	// Committed: another session sees it, and the pool's connections are
	// back out of any transaction.
	rows, err := s.ListByPosting(ctx, k.PostingID, app.ListQuery{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, delivery.StatusSent, rows.Items[0].Status)
	require.Equal(t, 2, rows.Items[0].Attempts)
	_, changed, err = s.Finish(ctx, k, app.Final{Status: delivery.StatusFailed, At: at})
	require.NoError(t, err)
	require.False(t, changed, "a final row is not finished again")
	stillPending, err = s.RecordAttempt(ctx, k, "late", at)
	require.NoError(t, err)
	require.False(t, stillPending)
}

// BenchmarkInsertPending measures the insert of a 500-recipient batch (new
// rows) and of its redelivery (every row already there), on a table with
// planner statistics, as in production.
func BenchmarkInsertPending(b *testing.B) {
	pool := testenv.Postgres(b)
	s, err := postgres.New(pool)
	require.NoError(b, err)
	ctx := context.Background()
	if _, err := s.InsertPending(ctx, keys(5000), time.Now()); err != nil {
		b.Fatal(err)
	}
	testenv.MustExec(b, pool, `ANALYZE deliveries`)
	b.Run("new", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			batch := keys(500)
			for j := range batch {
				batch[j].PostingID = fmt.Sprintf("bench-%d", i)
			}
			if _, err := s.InsertPending(ctx, batch, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redelivered", func(b *testing.B) {
		batch := keys(500)
		if _, err := s.InsertPending(ctx, batch, time.Now()); err != nil {
			b.Fatal(err)
		}
		testenv.MustExec(b, pool, `ANALYZE deliveries`)
		for b.Loop() {
			if _, err := s.InsertPending(ctx, batch, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
