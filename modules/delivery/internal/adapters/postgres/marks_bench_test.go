package postgres_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// BenchmarkConcurrentSentMarks marks pending rows sent from 10 goroutines,
// as 10 delivery workers do: with the store's Finish (synchronous_commit
// off in a one-round-trip transaction), and, for comparison, with the same
// UPDATE committed synchronously. Run it with
//
//	go test -run '^$' -bench ConcurrentSentMarks -benchtime 5000x ./modules/delivery/internal/adapters/postgres/
//
// On the development machine (PostgreSQL 15 local, fsync on, 2 CPUs
// shared with the benchmark) Finish, which groups the marks of concurrent
// callers into one UPDATE per transaction, made 16,300 marks/s and the
// synchronous UPDATE one by one 8,500. Before the grouping, Finish (one
// transaction per mark, synchronous_commit off) made 7,900-9,400.
func BenchmarkConcurrentSentMarks(b *testing.B) {
	pool := testenv.Postgres(b)
	s, err := postgres.New(pool)
	require.NoError(b, err)
	ctx := context.Background()
	var runs atomic.Int64
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	for _, bc := range []struct {
		name string
		mark func(domain.Key) error
	}{
		{"Finish", func(k domain.Key) error {
			_, changed, err := s.Finish(ctx, k, app.Final{Status: delivery.StatusSent, MessageID: k.MessageID(), Attempted: true, At: at})
			if err == nil && !changed {
				err = fmt.Errorf("%v not pending", k)
			}
			return err
		}},
		{"SynchronousUpdate", func(k domain.Key) error {
			_, err := pool.Exec(ctx, `
				UPDATE deliveries SET status = 'sent', message_id = $4, attempts = attempts + 1, updated_at = $5, sent_at = $5
				WHERE posting_id = $1 AND user_id = $2 AND channel = $3 AND status = 'pending'`,
				k.PostingID, k.UserID, k.Channel, k.MessageID(), at)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			keys := make([]domain.Key, b.N)
			run := runs.Add(1)
			for i := range keys {
				keys[i] = domain.Key{PostingID: fmt.Sprintf("bench-%d", run), UserID: fmt.Sprintf("u%07d", i), Channel: "email"}
			}
			_, err := s.InsertPending(ctx, keys, at)
			require.NoError(b, err)
			var next atomic.Int64
			b.SetParallelism(max(1, 10/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bc.mark(keys[next.Add(1)-1]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "marks/s")
		})
	}
}
