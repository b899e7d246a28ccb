package claimcheck_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/claimcheck"
	"github.com/notifier/notifier/platform/db"
)

// contract runs the behaviour every Store shares. Expiry is checked with a
// claim that expired an hour ago, so no clock needs to move.
func contract(t *testing.T, newStore func(t *testing.T) claimcheck.Store) {
	ctx := context.Background()
	later := time.Now().Add(time.Hour)

	t.Run("a claim reads back as stored", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Put(ctx, "posting:1:context", []byte(`{"movies":[1,2]}`), later))
		got, err := s.Get(ctx, "posting:1:context")
		require.NoError(t, err)
		require.JSONEq(t, `{"movies":[1,2]}`, string(got))
	})
	t.Run("a second put of a reference keeps the first payload", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Put(ctx, "r", []byte("first"), later))
		require.NoError(t, s.Put(ctx, "r", []byte("second"), later))
		got, err := s.Get(ctx, "r")
		require.NoError(t, err)
		require.Equal(t, "first", string(got))
	})
	t.Run("an unknown or expired reference is not found", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(ctx, "never")
		require.ErrorIs(t, err, claimcheck.ErrNotFound)
		require.NoError(t, s.Put(ctx, "old", []byte("x"), time.Now().Add(-time.Hour)))
		_, err = s.Get(ctx, "old")
		require.ErrorIs(t, err, claimcheck.ErrNotFound)
	})
	t.Run("the payload is a copy", func(t *testing.T) {
		s := newStore(t)
		payload := []byte("abc")
		require.NoError(t, s.Put(ctx, "r", payload, later))
		payload[0] = 'X'
		got, err := s.Get(ctx, "r")
		require.NoError(t, err)
		require.Equal(t, "abc", string(got))
	})
}

func TestMemoryStoreKeepsTheContract(t *testing.T) {
	t.Parallel()
	contract(t, func(*testing.T) claimcheck.Store { return claimcheck.NewMemory(nil) })
}

func TestPostgresStoreKeepsTheContract(t *testing.T) {
	t.Parallel()
	contract(t, func(t *testing.T) claimcheck.Store {
		s, err := claimcheck.NewPostgres(testenv.Postgres(t))
		require.NoError(t, err)
		return s
	})
}

func TestPostgresClaimCommitsWithTheCallersTransactionOnly(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	s, err := claimcheck.NewPostgres(pool)
	require.NoError(t, err)
	ctx := context.Background()

	txCtx, finish := db.Begin(ctx, pool)
	require.NoError(t, s.Put(txCtx, "rolled back", []byte("x"), time.Now().Add(time.Hour)))
	boom := errors.New("the handler failed")
	require.ErrorIs(t, finish(boom), boom)
	_, err = s.Get(ctx, "rolled back")
	require.ErrorIs(t, err, claimcheck.ErrNotFound, "the claim went with the rollback")

	txCtx, finish = db.Begin(ctx, pool)
	require.NoError(t, s.Put(txCtx, "committed", []byte("x"), time.Now().Add(time.Hour)))
	require.NoError(t, finish(nil))
	_, err = s.Get(ctx, "committed")
	require.NoError(t, err)
}

func TestPostgresSweepDeletesOnlyExpiredClaims(t *testing.T) {
	t.Parallel()
	s, err := claimcheck.NewPostgres(testenv.Postgres(t))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "old", []byte("x"), time.Now().Add(-time.Minute)))
	require.NoError(t, s.Put(ctx, "live", []byte("y"), time.Now().Add(time.Hour)))

	n, err := s.Sweep(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	_, err = s.Get(ctx, "live")
	require.NoError(t, err)
}

func TestMemoryStoreForgetsExpiredClaims(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	s := claimcheck.NewMemory(clock)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "r", []byte("x"), now.Add(time.Minute)))
	now = now.Add(2 * time.Minute)
	_, err := s.Get(ctx, "r")
	require.ErrorIs(t, err, claimcheck.ErrNotFound)
	require.NoError(t, s.Put(ctx, "r", []byte("new"), now.Add(time.Minute)))
	got, err := s.Get(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, "new", string(got), "an expired reference can be stored again")
}

// countingStore counts the reads that reach it.
type countingStore struct {
	claimcheck.Store
	reads atomic.Int32
}

func (c *countingStore) Get(ctx context.Context, ref string) ([]byte, error) {
	c.reads.Add(1)
	return c.Store.Get(ctx, ref)
}

func TestCachedStoreReadsEachClaimOnceWhileItIsAmongTheLastFew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inner := &countingStore{Store: claimcheck.NewMemory(nil)}
	for _, r := range []string{"a", "b", "c"} {
		require.NoError(t, inner.Put(ctx, r, []byte(r), time.Now().Add(time.Hour)))
	}
	c := claimcheck.NewCached(inner, 2)

	for range 3 {
		got, err := c.Get(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "a", string(got))
	}
	require.EqualValues(t, 1, inner.reads.Load(), "a is read once")
	_, _ = c.Get(ctx, "b")
	_, _ = c.Get(ctx, "c") // evicts a, the least recently read
	_, _ = c.Get(ctx, "a")
	require.EqualValues(t, 4, inner.reads.Load(), "a was evicted and read again")
	_, err := c.Get(ctx, "missing")
	require.ErrorIs(t, err, claimcheck.ErrNotFound, "a miss is not cached")
	_, err = c.Get(ctx, "missing")
	require.ErrorIs(t, err, claimcheck.ErrNotFound)
	require.EqualValues(t, 6, inner.reads.Load())
}
