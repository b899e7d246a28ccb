package pgtransport_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/pgtransport"
)

// consume has handler ack every message of topic, and returns once its
// position is stored at the n-th published (watermill-sql stores it after
// the last of the rows it read is acked).
func consume(t *testing.T, pool *pgxpool.Pool, tr *pgtransport.SQL, topic, offsets, handler string, n int64) {
	t.Helper()
	sub, err := tr.Subscriber(handler)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	require.NoError(t, err)
	go func() {
		for msg := range msgs {
			msg.Ack()
		}
	}()
	require.Eventually(t, func() bool {
		var acked int64
		err := pool.QueryRow(context.Background(),
			`SELECT offset_acked FROM `+offsets+` WHERE consumer_group = $1`, handler).Scan(&acked)
		return err == nil && acked == n
	}, 10*time.Second, 10*time.Millisecond, "%s's position at %d", handler, n)
}

func TestPruneDeletesWhatEveryHandlerOfATopicHasConsumed(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	tr, err := pgtransport.NewSQL(pool, pgtransport.SQLConfig{PollInterval: 10 * time.Millisecond}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	const topic, lonely = "events.test.Pruned.v1", "events.test.Waiting.v1"
	const offsets = `"wm_off_events_test_pruned_v1"`
	for _, h := range []string{"fast", "slow"} {
		require.NoError(t, tr.Initialize(topic, h))
	}
	require.NoError(t, tr.Initialize(lonely, "never-started"))
	publish := func(from, to int) {
		for i := from; i <= to; i++ {
			require.NoError(t, tr.Publisher().Publish(topic, message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, `{"n":%d}`, i))))
			require.NoError(t, tr.Publisher().Publish(lonely, message.NewMessage(watermill.NewUUID(), []byte(`{}`))))
		}
	}
	count := func(table string) int {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n))
		return n
	}
	prune := func() int64 {
		n, err := tr.Prune(context.Background())
		require.NoError(t, err)
		return n
	}

	publish(1, 4)
	require.Zero(t, prune(), "nobody has consumed anything")
	consume(t, pool, tr, topic, offsets, "fast", 4)
	require.Zero(t, prune(), "'slow' has no position yet: nothing is deleted")

	publish(5, 10)
	consume(t, pool, tr, topic, offsets, "slow", 10)
	require.Equal(t, int64(4), prune(), "what both have consumed: the first four")
	require.Equal(t, 6, count(`"wm_events_test_pruned_v1"`))

	consume(t, pool, tr, topic, offsets, "fast", 10)
	require.Equal(t, int64(6), prune())
	require.Zero(t, count(`"wm_events_test_pruned_v1"`))
	require.Zero(t, prune(), "nothing left")
	require.Equal(t, 10, count(`"wm_events_test_waiting_v1"`), "a topic whose handler never ran keeps everything")
}

func TestPoisonedMessagesOlderThanTheTTLAreDeletedConsumedOrNot(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	tr, err := pgtransport.NewSQL(pool, pgtransport.SQLConfig{PollInterval: 10 * time.Millisecond, PoisonTTL: time.Hour}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	expire := func() int64 {
		n, err := tr.ExpirePoisoned(context.Background())
		require.NoError(t, err)
		return n
	}
	require.Zero(t, expire(), "no poison topic yet: nothing to do, no error")

	const other = "events.test.Kept.v1"
	require.NoError(t, tr.Initialize(messaging.PoisonTopic, "retained"))
	require.NoError(t, tr.Initialize(other, "never-started"))
	for i := range 5 {
		body := fmt.Appendf(nil, `{"email":"user%d@example.com"}`, i)
		require.NoError(t, tr.Publisher().Publish(messaging.PoisonTopic, message.NewMessage(watermill.NewUUID(), body)))
		require.NoError(t, tr.Publisher().Publish(other, message.NewMessage(watermill.NewUUID(), body)))
	}
	const poisonTable, otherTable = `"wm_notifier_poison"`, `"wm_events_test_kept_v1"`
	// Three of the poisoned messages, and every message of the other
	// topic, were published two hours ago.
	testenv.MustExec(t, pool, `UPDATE `+poisonTable+` SET created_at = created_at - interval '2 hours'
		WHERE "offset" IN (SELECT "offset" FROM `+poisonTable+` ORDER BY "offset" LIMIT 3)`)
	testenv.MustExec(t, pool, `UPDATE `+otherTable+` SET created_at = created_at - interval '2 hours'`)
	count := func(table string) int {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n))
		return n
	}

	n, err := tr.Prune(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "nobody consumes the retained poisoned messages: pruning keeps them")
	require.Equal(t, int64(3), expire(), "the three older than the TTL")
	require.Equal(t, 2, count(poisonTable), "the recent ones stay for operators")
	require.Equal(t, 5, count(otherTable), "other topics are not the poison queue")
	require.Zero(t, expire())
}

func TestANegativePoisonTTLIsRefused(t *testing.T) {
	t.Parallel()
	_, err := pgtransport.NewSQL(testenv.Postgres(t), pgtransport.SQLConfig{PoisonTTL: -time.Second}, nil)
	require.ErrorContains(t, err, "poison TTL")
}
