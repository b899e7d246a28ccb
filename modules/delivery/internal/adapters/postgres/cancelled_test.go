package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
)

func TestNotCancelledIsAskedOnceAWhileAndACancellationElsewhereIsSeenSoon(t *testing.T) {
	t.Parallel()
	s, trips, pool := tracedStoreAndPool(t)
	ctx := context.Background()

	for range 100 {
		cancelled, err := s.IsCancelled(ctx, "p1")
		require.NoError(t, err)
		require.False(t, cancelled)
	}
	require.Less(t, trips.total(), int32(10), "a 'not cancelled' answer is reused for a while, not asked per message")

	// Another instance (another Store on the same database) cancels.
	other, err := postgres.New(pool)
	require.NoError(t, err)
	_, err = other.CancelPosting(ctx, "p1", at)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cancelled, err := s.IsCancelled(ctx, "p1")
		return err == nil && cancelled
	}, 5*time.Second, 10*time.Millisecond)

	// Cancelled is for good: no more questions.
	before := trips.total()
	for range 10 {
		cancelled, err := s.IsCancelled(ctx, "p1")
		require.NoError(t, err)
		require.True(t, cancelled)
	}
	require.Equal(t, before, trips.total())
}

func TestACancellationThroughTheSameStoreIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	cancelled, err := s.IsCancelled(ctx, "p1")
	require.NoError(t, err)
	require.False(t, cancelled)
	_, err = s.CancelPosting(ctx, "p1", at)
	require.NoError(t, err)
	cancelled, err = s.IsCancelled(ctx, "p1")
	require.NoError(t, err)
	require.True(t, cancelled, "no wait for the 'not cancelled' answer to age")
}
