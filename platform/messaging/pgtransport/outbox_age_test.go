package pgtransport_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging/pgtransport"
	"github.com/notifier/notifier/platform/metrics"
)

func TestOutboxAgeIsTheOldestUnforwardedMessageOfEachLaneAndZeroWhenEmpty(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	broker := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 16}, watermill.NopLogger{})
	outbox, err := pgtransport.NewOutbox(pool, broker, 10*time.Millisecond, nil, pgtransport.WithTransactionalLane(pool, broker, 0))
	require.NoError(t, err)
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	gauge, err := pgtransport.NewOutboxAgeGauge(outbox, metrics.CachedGaugeOptions{TTL: time.Second, Clock: fake})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(gauge))
	bulk := metrics.Series("notifier_outbox_oldest_age_seconds", "lane", lane.Bulk)
	transactional := metrics.Series("notifier_outbox_oldest_age_seconds", "lane", lane.Transactional)
	ages := func() metrics.Values {
		t.Helper()
		fake.Advance(time.Second) // past the cache
		v, err := metrics.Gather(reg)
		require.NoError(t, err)
		require.True(t, v.Has(bulk) && v.Has(transactional), "%v", v)
		return v
	}
	v := ages()
	require.Zero(t, v[bulk], "an empty outbox")
	require.Zero(t, v[transactional], "an empty outbox")

	// The forwarder is not running: committed messages stay in the tables.
	for _, m := range []struct{ payload, lane string }{{`"first"`, lane.Bulk}, {`"second"`, lane.Bulk}, {`"code"`, lane.Transactional}} {
		uow, finish := db.Begin(context.Background(), pool)
		msg := message.NewMessage(watermill.NewUUID(), []byte(m.payload))
		msg.Metadata.Set(lane.MetadataKey, m.lane)
		msg.SetContext(uow)
		require.NoError(t, outbox.Publish("events.test", msg))
		require.NoError(t, finish(nil))
	}
	testenv.MustExec(t, pool, `UPDATE wm_notifier_outbox SET created_at = now() - interval '90 seconds'
		WHERE "offset" = (SELECT min("offset") FROM wm_notifier_outbox)`)
	testenv.MustExec(t, pool, `UPDATE wm_notifier_outbox_transactional SET created_at = now() - interval '30 seconds'`)
	v = ages()
	require.GreaterOrEqual(t, v[bulk], 90.0, "the first message has waited 90 s")
	require.Less(t, v[bulk], 90.0+60, "and not since the epoch")
	require.GreaterOrEqual(t, v[transactional], 30.0, "the code has its own table")
	require.Less(t, v[transactional], 90.0, "which the bulk messages are not in")

	received, err := broker.Subscribe(context.Background(), "events.test")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = outbox.Run(ctx) }()
	<-outbox.Running()
	t.Cleanup(func() { _ = outbox.Stop() })
	for range 3 {
		select {
		case msg := <-received:
			msg.Ack()
		case <-time.After(10 * time.Second):
			t.Fatal("the messages were not forwarded")
		}
	}
	require.Eventually(t, func() bool { v := ages(); return v[bulk] == 0 && v[transactional] == 0 }, 10*time.Second, 10*time.Millisecond,
		"forwarded and deleted: nothing waits")
}

func TestOutboxAgeOfAnUnreachableDatabaseIsAnError(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	outbox, err := pgtransport.NewOutbox(pool, gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{}), 0, nil)
	require.NoError(t, err)
	pool.Close()
	_, err = outbox.OldestAge(context.Background())
	require.Error(t, err)
	_, err = pgtransport.NewOutboxAgeGauge(nil, metrics.CachedGaugeOptions{})
	require.Error(t, err)
}
