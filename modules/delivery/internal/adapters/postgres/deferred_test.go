package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

func deferredBatch(posting string, no int, notBefore time.Time) app.DeferredBatch {
	return app.DeferredBatch{
		Batch:     app.BatchKey{PostingID: posting, Lane: delivery.LaneBulk, BatchNo: no},
		NotBefore: notBefore,
		Command: delivery.DeliverBatch{PostingID: posting, BatchNo: no, Lane: delivery.LaneBulk, Template: "email/x.md",
			Items: []delivery.Item{{Channel: "email", Recipient: delivery.Recipient{UserID: "u1", Email: "u1@example.com"},
				QuietHours: &delivery.QuietHours{Start: "22:00", End: "08:00", Zone: "Europe/Moscow"}}}},
	}
}

func TestDeferredBatchesWaitUntilDueAndAreTakenOnce(t *testing.T) {
	t.Parallel()
	s, err := postgres.NewDeferred(testenv.Postgres(t))
	require.NoError(t, err)
	ctx := context.Background()
	morning := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	require.NoError(t, s.Defer(ctx, []app.DeferredBatch{deferredBatch("p1", 1, morning), deferredBatch("p1", 2, morning.Add(time.Hour))}))
	require.NoError(t, s.Defer(ctx, []app.DeferredBatch{deferredBatch("p1", 1, morning)}), "a repeat is kept once")

	var got []app.DeferredBatch
	take := func(now time.Time) int {
		n, err := s.Due(ctx, now, 10, func(_ context.Context, due []app.DeferredBatch) error {
			got = append(got, due...)
			return nil
		})
		require.NoError(t, err)
		return n
	}
	assert.Zero(t, take(morning.Add(-time.Second)))
	assert.Equal(t, 1, take(morning))
	require.Len(t, got, 1)
	assert.Equal(t, 1, got[0].Batch.BatchNo)
	assert.True(t, got[0].NotBefore.Equal(morning))
	assert.Equal(t, "Europe/Moscow", got[0].Command.Items[0].QuietHours.Zone, "the command comes back whole")
	assert.Zero(t, take(morning), "taken once")

	_, err = s.Due(ctx, morning.Add(2*time.Hour), 10, func(context.Context, []app.DeferredBatch) error { return errors.New("bus down") })
	require.Error(t, err)
	assert.Equal(t, 1, take(morning.Add(2*time.Hour)), "a failed resume leaves the batch for the next")
}

func TestConcurrentResumersTakeDifferentBatches(t *testing.T) {
	t.Parallel()
	s, err := postgres.NewDeferred(testenv.Postgres(t))
	require.NoError(t, err)
	ctx := context.Background()
	morning := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	var batches []app.DeferredBatch
	for i := range 50 {
		batches = append(batches, deferredBatch("p1", i+1, morning))
	}
	require.NoError(t, s.Defer(ctx, batches))

	var mu sync.Mutex
	seen := map[int]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := s.Due(ctx, morning, 5, func(_ context.Context, due []app.DeferredBatch) error {
					mu.Lock()
					defer mu.Unlock()
					for _, d := range due {
						seen[d.Batch.BatchNo]++
					}
					return nil
				})
				assert.NoError(t, err)
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.Len(t, seen, 50)
	for no, c := range seen {
		assert.Equal(t, 1, c, "batch %d", no)
	}
}
