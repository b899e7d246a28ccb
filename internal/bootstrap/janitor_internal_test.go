package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx/fxtest"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/messaging"
)

func TestTheJanitorDeletesPoisonedMessagesOlderThanTheConfiguredTTLInTheSQLTransport(t *testing.T) {
	t.Parallel()
	cfg, err := config.Default()
	require.NoError(t, err)
	cfg.Transport = config.TransportSQL
	cfg.Database.URL, _ = testenv.Schema(t)
	cfg.AMQP.PoisonTTL = time.Hour
	lc := fxtest.NewLifecycle(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	in, err := newInfra(lc, cfg, clock.System{}, logger, prometheus.NewRegistry())
	require.NoError(t, err)
	lc.RequireStart()
	t.Cleanup(func() { _ = in.transport.Close(); lc.RequireStop() })

	require.NoError(t, in.transport.(messaging.Initializer).Initialize(messaging.PoisonTopic, "retained"))
	for _, body := range []string{`{"email":"old@example.com"}`, `{"email":"recent@example.com"}`} {
		require.NoError(t, in.transport.Publisher().Publish(messaging.PoisonTopic, message.NewMessage(watermill.NewUUID(), []byte(body))))
	}
	testenv.MustExec(t, in.pools.Bulk, `UPDATE "wm_notifier_poison" SET created_at = created_at - interval '2 hours'
		WHERE convert_from(payload, 'UTF8') LIKE '%old@%'`)
	testenv.MustExec(t, in.pools.Bulk, `UPDATE "wm_notifier_poison" SET created_at = created_at - interval '30 minutes'
		WHERE convert_from(payload, 'UTF8') LIKE '%recent@%'`)

	sweep(context.Background(), platformSweepers(in), logger)

	var left []string
	rows, err := in.pools.Bulk.Query(context.Background(), `SELECT convert_from(payload, 'UTF8') FROM "wm_notifier_poison"`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		left = append(left, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{`{"email":"recent@example.com"}`}, left,
		"older than amqp.poison_ttl (1h) is gone, younger stays (the 168h default would keep both)")
}

func TestTheJanitorDeletesTheConsolesPoisonedMessagesOlderThanTheConfiguredTTL(t *testing.T) {
	t.Parallel()
	cfg, err := config.Default()
	require.NoError(t, err)
	cfg.Transport = config.TransportSQL
	cfg.Database.URL, _ = testenv.Schema(t)
	cfg.Database.AutoMigrate = true
	cfg.AMQP.PoisonTTL = time.Hour
	lc := fxtest.NewLifecycle(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	in, err := newInfra(lc, cfg, fake, logger, prometheus.NewRegistry())
	require.NoError(t, err)
	lc.RequireStart()
	t.Cleanup(func() { _ = in.transport.Close(); lc.RequireStop() })
	m, err := newMessaging(cfg, in, fake, logger, nil, nil)
	require.NoError(t, err)
	pq, err := newPoisonQueue(cfg, in, fake, m, logger)
	require.NoError(t, err)

	for i, at := range []time.Duration{-2 * time.Hour, -30 * time.Minute} {
		msg := message.NewMessage(watermill.NewUUID(), []byte(`{"phone":"+7900123456`+string(rune('0'+i))+`"}`))
		msg.Metadata.Set(middleware.PoisonedHandlerKey, "eventintake.ConsumeEvents")
		msg.Metadata.Set(messaging.PoisonedAtKey, fake.Now().Add(at).Format(time.RFC3339Nano))
		require.NoError(t, pq.record.Handle(msg))
	}

	sweep(context.Background(), janitorSweepers(in, pq, nil), logger)

	var left []string
	rows, err := in.pools.Bulk.Query(context.Background(), `SELECT convert_from(payload, 'UTF8') FROM poison_messages`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		left = append(left, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{`{"phone":"+79001234561"}`}, left, "older than amqp.poison_ttl (1h) is gone, younger stays")
}

func TestInMemoryModeThePoisonQueueNeedsNoJanitor(t *testing.T) {
	t.Parallel()
	cfg, err := config.Default()
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	in, err := newInfra(fxtest.NewLifecycle(t), cfg, clock.System{}, logger, prometheus.NewRegistry())
	require.NoError(t, err)
	m, err := newMessaging(cfg, in, clock.System{}, logger, nil, nil)
	require.NoError(t, err)
	pq, err := newPoisonQueue(cfg, in, clock.System{}, m, logger)
	require.NoError(t, err)
	require.Nil(t, pq.sweeper, "the memory store forgets on its own")
	require.Empty(t, janitorSweepers(in, pq, nil))
}
