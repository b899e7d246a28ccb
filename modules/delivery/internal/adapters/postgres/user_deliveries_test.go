package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
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

// lastQuery keeps the last statement a pool sent on its own, with its
// arguments.
type lastQuery struct {
	mu   sync.Mutex
	sql  string
	args []any
}

func (l *lastQuery) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sql, l.args = d.SQL, d.Args
	return ctx
}
func (l *lastQuery) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A user's page is read from the index of migration 00016 in its order,
// with the cursor and the channel as index conditions: no scan of the
// table, no sort, however many deliveries other users have.
func TestAUsersDeliveriesAreReadInTheOrderOfTheirIndex(t *testing.T) {
	t.Parallel()
	cfg := testenv.Postgres(t).Config()
	last := &lastQuery{}
	cfg.ConnConfig.Tracer = last
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := postgres.New(pool)
	require.NoError(t, err)
	ctx := context.Background()

	for p := range 20 {
		batch := make([]domain.Key, 1000)
		for u := range batch {
			batch[u] = domain.Key{PostingID: fmt.Sprintf("p%02d", p), UserID: fmt.Sprintf("user-%04d", u), Channel: "email"}
		}
		_, err := s.InsertPending(ctx, batch, at.Add(time.Duration(p)*time.Minute))
		require.NoError(t, err)
	}
	testenv.MustExec(t, pool, "ANALYZE deliveries")

	first, err := s.ListByUser(ctx, "user-0042", app.UserListQuery{Limit: 5, Channel: domain.ChannelEmail})
	require.NoError(t, err)
	require.Len(t, first.Items, 5)
	require.Equal(t, "p19", first.Items[0].PostingID)
	_, err = s.ListByUser(ctx, "user-0042", app.UserListQuery{Limit: 5, Status: delivery.StatusPending, Cursor: first.NextCursor})
	require.NoError(t, err)

	last.mu.Lock()
	sql, args := last.sql, last.args
	last.mu.Unlock()
	require.Contains(t, sql, "FROM deliveries")
	rows, err := pool.Query(ctx, "EXPLAIN "+sql, args...)
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	joined := strings.Join(plan, "\n")
	require.Contains(t, joined, "Index Scan using deliveries_user_created", joined)
	require.Contains(t, joined, "ROW(created_at, posting_id, channel) <", "the cursor is an index condition:\n"+joined)
	require.NotContains(t, joined, "Sort", joined)
	require.NotContains(t, joined, "Seq Scan", joined)
}
