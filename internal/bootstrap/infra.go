package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/notifier/notifier/migrations"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/amqptransport"
	"github.com/notifier/notifier/platform/messaging/pgtransport"
	"github.com/notifier/notifier/platform/metrics"
)

// infra is what the configuration picks: where messages travel, where
// state lives, and how a handler's writes and messages commit together.
type infra struct {
	pools     db.Pools // empty in memory mode; Bulk serves everything but the transactional lane
	transport messaging.Transport
	keys      messaging.KeyStore
	unit      message.HandlerMiddleware // nil in memory mode
	outbox    *pgtransport.Outbox       // amqp only
	broker    interface{ Ping(context.Context) error }
}

func wlogger(logger *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}

// newInfra connects what the configuration names. A production
// configuration that cannot reach its database or broker fails the start.
// The outbox's age is measured in reg (notifier_outbox_oldest_age_seconds).
func newInfra(lc fx.Lifecycle, cfg config.Config, c clock.Clock, logger *slog.Logger, reg prometheus.Registerer) (*infra, error) {
	wlog := wlogger(logger)
	if cfg.Transport == config.TransportMemory {
		return &infra{
			transport: messaging.NewMemoryTransport(wlog),
			keys:      messaging.NewMemoryKeyStore(c, cfg.Messaging.DedupRetention),
		}, nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pools, err := db.OpenPools(ctx, cfg.Database.URL, cfg.Database.TransactionalConns)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStop: func(context.Context) error { pools.Close(); return nil }})
	pool := pools.Bulk
	if cfg.Database.AutoMigrate {
		if err := db.Migrate(ctx, pool, migrations.FS, logger); err != nil {
			return nil, err
		}
	}
	in := &infra{
		pools: pools,
		keys:  messaging.NewPostgresKeyStore(pool, cfg.Messaging.DedupRetention),
		unit:  messaging.UnitOfWorkOnLanes(pools),
	}
	switch cfg.Transport {
	case config.TransportSQL:
		subscribers, err := db.Open(ctx, cfg.Database.URL, db.MaxConns(cfg.SQL.SubscriberConns))
		if err != nil {
			return nil, fmt.Errorf("sql subscribers: %w", err)
		}
		lc.Append(fx.Hook{OnStop: func(context.Context) error { subscribers.Close(); return nil }})
		in.transport, err = pgtransport.NewSQL(pool, pgtransport.SQLConfig{
			PollInterval:      cfg.SQL.PollInterval,
			PoisonTTL:         cfg.AMQP.PoisonTTL,
			TransactionalPool: pools.Transactional,
			SubscriberPool:    subscribers,
		}, wlog)
		if err != nil {
			return nil, err
		}
	case config.TransportAMQP:
		broker, err := amqptransport.New(amqptransport.Config{
			URL:             cfg.AMQP.URL,
			Prefix:          cfg.AMQP.Prefix,
			External:        cfg.AMQP.Exchanges,
			PublishChannels: cfg.AMQP.PublishChannels,
			Prefetch:        cfg.AMQP.Prefetch,
			Concurrency:     cfg.AMQP.HandlerConcurrency,
			PoisonTTL:       cfg.AMQP.PoisonTTL,

			TransactionalConcurrency:     cfg.AMQP.TransactionalHandlerConcurrency,
			TransactionalPublishChannels: cfg.AMQP.TransactionalPublishChannels,
		}, wlog)
		if err != nil {
			return nil, fmt.Errorf("connect to rabbitmq: %w", err)
		}
		in.outbox, err = pgtransport.NewOutbox(pool, broker.Publisher(), cfg.AMQP.OutboxPollInterval, wlog,
			pgtransport.WithTransactionalLane(pools.For(lane.Transactional), broker.LanePublisher(lane.Transactional),
				cfg.AMQP.TransactionalOutboxPollInterval))
		if err != nil {
			return nil, errors.Join(err, broker.Close())
		}
		age, err := pgtransport.NewOutboxAgeGauge(in.outbox, metrics.CachedGaugeOptions{Clock: c, Logger: logger})
		if err == nil {
			err = reg.Register(age)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("outbox metrics: %w", err), broker.Close())
		}
		in.transport = outboxTransport{Transport: broker, outbox: in.outbox}
		in.broker = broker
	default:
		return nil, fmt.Errorf("unknown transport %q", cfg.Transport)
	}
	return in, nil
}

// outboxTransport is the broker transport whose publishing goes through
// the outbox.
type outboxTransport struct {
	*amqptransport.Transport
	outbox *pgtransport.Outbox
}

func (t outboxTransport) Publisher() message.Publisher { return t.outbox }
