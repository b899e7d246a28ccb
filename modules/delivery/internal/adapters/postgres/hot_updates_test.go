package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// The life of a delivery row (pending insert, final status, reported flag)
// must not write index entries after the insert: no index may cover the
// status or the reported flag, or every update writes a new entry in every
// index (migration 00006).
func TestADeliveryRowsUpdatesAreHeapOnly(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	batch := keys(200)
	_, err := s.InsertPending(ctx, batch, at)
	require.NoError(t, err)
	for i, k := range batch {
		status := delivery.StatusSent
		if i%10 == 9 {
			status = delivery.StatusFailed
		}
		_, changed, err := s.Finish(ctx, k, app.Final{Status: status, MessageID: k.MessageID(), Attempted: true, At: at})
		require.NoError(t, err)
		require.True(t, changed)
	}
	n, err := s.Report(ctx, app.ReportScope{PostingID: "p1", Keys: batch}, func(context.Context, []domain.Delivery) error { return nil })
	require.NoError(t, err)
	require.Equal(t, len(batch), n)

	// The statistics reach the shared view within about a second.
	var updates, hot int64
	require.Eventually(t, func() bool {
		err := pool.QueryRow(ctx, `
			SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
			WHERE relid = 'deliveries'::regclass`).Scan(&updates, &hot)
		return err == nil && updates == int64(2*len(batch))
	}, 10*time.Second, 50*time.Millisecond, "two updates per row")
	// The first update of each row always finds room on its page (the
	// fillfactor leaves half of it free); the second does when the page's
	// dead versions could be pruned first, which other transactions of the
	// database (the tests running alongside) can hold back. An index on
	// status or reported makes every update write index entries: none is
	// heap-only.
	require.GreaterOrEqual(t, hot, int64(len(batch)), "at least the final-status update of every row is heap-only")
}
