package messaging_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/messaging"
)

func TestOnPostgresAHandlerThatFailsOnceStillProcessesTheMessageExactlyOnce(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	testenv.MustExec(t, pool, "CREATE TABLE effects (n int NOT NULL)")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := messaging.New(messaging.Config{MaxRetries: 3, RetryInterval: time.Millisecond, UnitOfWork: messaging.UnitOfWork(pool)},
		messaging.NewMemoryTransport(nil), messaging.NewPostgresKeyStore(pool, time.Hour), logger)
	require.NoError(t, err)

	var attempts atomic.Int32
	require.NoError(t, m.AddEventHandler(cqrs.NewEventHandler("flaky", func(ctx context.Context, e *pingSent) error {
		q, err := db.Q(ctx, pool)
		if err != nil {
			return err
		}
		// The write happens before the failure: the unit of work must undo it.
		if _, err := q.Exec(ctx, "INSERT INTO effects (n) VALUES ($1)", e.N); err != nil {
			return err
		}
		if attempts.Add(1) == 1 {
			return errors.New("network hiccup after the write")
		}
		return nil
	})))
	run(t, m)

	msg, err := messaging.Marshaler().Marshal(&pingSent{N: 1})
	require.NoError(t, err)
	topic := messaging.EventTopic("test.PingSent.v1", "")
	require.NoError(t, m.Publisher().Publish(topic, msg))
	require.NoError(t, m.Publisher().Publish(topic, msg.Copy()))
	require.NoError(t, m.EventBus().Publish(context.Background(), &pingSent{N: 2}))

	effects := func() (n int) {
		require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM effects").Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return effects() == 2 }, 10*time.Second, 5*time.Millisecond)
	var ones int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM effects WHERE n = 1").Scan(&ones))
	require.Equal(t, 1, ones, "message 1 took effect once: its failed try was rolled back, its copy dropped")
	var keys int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM processed_messages").Scan(&keys))
	require.Equal(t, 2, keys)
}

func TestPostgresKeyStoreReclaimsExpiredKeysAndSweepsThem(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	store := messaging.NewPostgresKeyStore(pool, time.Hour)
	ctx := context.Background()

	dup, err := store.Claim(ctx, "k")
	require.NoError(t, err)
	require.False(t, dup)
	dup, err = store.Claim(ctx, "k")
	require.NoError(t, err)
	require.True(t, dup)

	testenv.MustExec(t, pool, "UPDATE processed_messages SET expires_at = now() - interval '1 second'")
	dup, err = store.Claim(ctx, "k")
	require.NoError(t, err)
	require.False(t, dup, "past its retention a key is claimed again")

	testenv.MustExec(t, pool, "UPDATE processed_messages SET expires_at = now() - interval '1 second'")
	n, err := store.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	// Outside a unit of work, Release forgets the key.
	_, err = store.Claim(ctx, "k2")
	require.NoError(t, err)
	require.NoError(t, store.Release(ctx, "k2"))
	dup, err = store.Claim(ctx, "k2")
	require.NoError(t, err)
	require.False(t, dup)
}
