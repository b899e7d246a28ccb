package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// BenchmarkBulkBatchWrites writes what a bulk batch of 500 recipients
// writes to the deliveries table: the pending insert (InsertPending), the
// final status of each row (FinishMany, one statement, as for the skipped
// rows of a batch) and the reported flag (Report). It runs, in the same
// run for comparison, on the schema as migrated and on one without the
// index of a user's deliveries (migration 00016), the only secondary index
// of the table: it costs the insert one entry per row, and nothing to the
// updates, which touch none of its columns and stay heap-only
// (TestADeliveryRowsUpdatesAreHeapOnly). Run it with
//
//	go test -run '^$' -bench BulkBatchWrites -benchtime 200x -count 5 ./modules/delivery/internal/adapters/postgres/
func BenchmarkBulkBatchWrites(b *testing.B) {
	const batch = 500
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, variant := range []struct {
		name  string
		setup string
	}{
		{"AsMigrated", ""},
		{"WithoutUserIndex", "DROP INDEX IF EXISTS deliveries_user_created"},
	} {
		pool := testenv.Postgres(b)
		if variant.setup != "" {
			testenv.MustExec(b, pool, variant.setup)
		}
		s, err := postgres.New(pool)
		require.NoError(b, err)
		ctx := context.Background()
		run := 0
		b.Run(variant.name, func(b *testing.B) {
			run++
			var inserting time.Duration
			for i := 0; i < b.N; i++ {
				keys := make([]domain.Key, batch)
				transitions := make([]app.Transition, batch)
				posting := fmt.Sprintf("bench-%d-%d", run, i)
				for j := range keys {
					// Users recur across postings, as in a real audience.
					keys[j] = domain.Key{PostingID: posting, UserID: fmt.Sprintf("u%07d", (i*batch+j)%200000), Channel: "email"}
					transitions[j] = app.Transition{Key: keys[j], Final: app.Final{
						Status: delivery.StatusSent, MessageID: keys[j].MessageID(), Attempted: true, At: at,
					}}
				}
				start := time.Now()
				if _, err := s.InsertPending(ctx, keys, at); err != nil {
					b.Fatal(err)
				}
				inserting += time.Since(start)
				if _, err := s.FinishMany(ctx, transitions); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Report(ctx, app.ReportScope{PostingID: posting, Keys: keys, Chunk: batch},
					func(context.Context, []domain.Delivery) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(inserting.Microseconds())/float64(b.N*batch), "insert-µs/row")
		})
	}
}
