// Package postingfx wires the posting module into an fx application.
//
// It needs from the graph: config.Config, *slog.Logger, clock.Clock,
// *cqrs.CommandBus, *cqrs.EventBus, *upstream.Client, *templating.Renderer
// and db.TxRunner (in which its use cases write a change with the messages
// it causes), and takes an optional *pgxpool.Pool: with one, postings are
// kept in PostgreSQL, without, in memory; and an optional claimcheck.Store,
// where a resolved template context too large to copy into every batch is
// kept once. It contributes its command
// handlers (posting.CreatePosting, posting.ExpandAudience) to the
// "command_handlers" group (and publishes posting.AudienceBatchResolved,
// posting.PostingCancelled and posting.PostingFinished), its event handler
// (posting.ApplyOutcomesOnDeliveryOutcomes) to "event_handlers", each once
// per lane (the transactional copy named "<name>.transactional"), its HTTP
// routes to "routes", the sweeper of its expired idempotency keys to
// "sweepers", and runs the scheduler of send_at postings while the
// application runs. With a prometheus.Registerer in the graph (optional),
// it registers the notifier_postings gauge there. Its store and use cases
// stay private.
package postingfx

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/notifier/notifier/modules/posting/internal/adapters/directory"
	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/modules/posting/internal/ports"
	"github.com/notifier/notifier/platform/claimcheck"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/egress"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/metrics"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
)

// SchedulerInterval is how often the scheduler looks for due postings.
const SchedulerInterval = time.Second

// Module is the posting module.
var Module = fx.Module("posting",
	fx.Provide(
		fx.Private,
		newStore,
		newDirectory,
		newCreatePosting,
		newExpandAudience,
		newApplyOutcomes,
		newCancelPosting,
		app.NewGetPostingHandler,
		app.NewListPostingsHandler,
		newScheduler,
	),
	fx.Provide(
		fx.Annotate(onLanes(ports.NewCreatePostingCommandHandler), fx.ResultTags(`group:"command_handlers,flatten"`)),
		fx.Annotate(onLanes(ports.NewExpandAudienceCommandHandler), fx.ResultTags(`group:"command_handlers,flatten"`)),
		fx.Annotate(eventsOnLanes(ports.NewApplyOutcomesEventHandler), fx.ResultTags(`group:"event_handlers,flatten"`)),
		fx.Annotate(newHTTP, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`)),
		fx.Annotate(newKeySweeper, fx.ResultTags(`group:"sweepers"`)),
	),
	fx.Invoke(runScheduler),
	fx.Invoke(registerMetrics),
)

func moduleLogger(l *slog.Logger) *slog.Logger { return l.With("module", "posting") }

// onLanes turns the constructor of a command handler into one of the
// handler on each lane (messaging.CommandHandlerOnLanes): a code's
// commands never queue behind a mailing's.
func onLanes[U any](newHandler func(U) (cqrs.CommandHandler, error)) func(U) ([]cqrs.CommandHandler, error) {
	return func(uc U) ([]cqrs.CommandHandler, error) {
		h, err := newHandler(uc)
		if err != nil {
			return nil, err
		}
		return messaging.CommandHandlerOnLanes(h), nil
	}
}

// eventsOnLanes is onLanes for an event handler.
func eventsOnLanes[U any](newHandler func(U) (cqrs.EventHandler, error)) func(U) ([]cqrs.EventHandler, error) {
	return func(uc U) ([]cqrs.EventHandler, error) {
		h, err := newHandler(uc)
		if err != nil {
			return nil, err
		}
		return messaging.EventHandlerOnLanes(h), nil
	}
}

// storeParams lets the composition root leave the pool out (memory mode).
type storeParams struct {
	fx.In
	Pool *pgxpool.Pool `optional:"true"`
}

// newStore keeps postings in PostgreSQL when there is a pool, else in
// memory.
func newStore(p storeParams) (domain.Store, error) {
	if p.Pool == nil {
		return memory.New(), nil
	}
	return postgres.New(p.Pool)
}

func newDirectory(c *upstream.Client) (*directory.Directory, error) { return directory.New(c) }

func newCreatePosting(store domain.Store, tx db.TxRunner, commands *cqrs.CommandBus, events *cqrs.EventBus, templates *templating.Renderer,
	up *upstream.Client, clk clock.Clock, cfg config.Config, logger *slog.Logger,
) (*app.CreatePostingHandler, error) {
	// The webhook channel's own allow list (the delivery module judges the
	// setting; a broken one stops the start before this runs).
	hosts, err := egress.NewPolicyOf("webhook_channel.allowed_hosts", cfg.WebhookChannel.AllowedHosts)
	if err != nil {
		return nil, fmt.Errorf("posting: webhook_channel.allowed_hosts: %w", err)
	}
	return app.NewCreatePostingHandler(store, tx, commands, events, templates, up, clk, moduleLogger(logger),
		app.WithIdempotencyRetention(cfg.Posting.IdempotencyRetention), app.WithWebhookHosts(hosts))
}

// newKeySweeper lets the janitor forget the idempotency keys whose
// retention is over.
func newKeySweeper(store domain.Store, clk clock.Clock) db.Sweeper {
	return db.Sweeper{
		What:  "expired posting idempotency keys",
		Sweep: func(ctx context.Context) (int64, error) { return store.SweepKeys(ctx, clk.Now()) },
	}
}

// claimsParams lets the composition root leave the claim check store out:
// then every template context is copied into every batch.
type claimsParams struct {
	fx.In
	Claims claimcheck.Store `optional:"true"`
}

func newExpandAudience(store domain.Store, tx db.TxRunner, dir *directory.Directory, up *upstream.Client, commands *cqrs.CommandBus,
	events *cqrs.EventBus, clk clock.Clock, cfg config.Config, logger *slog.Logger, claims claimsParams,
) (*app.ExpandAudienceHandler, error) {
	limits := app.ContextLimits{
		MaxResolved: cfg.Posting.MaxResolvedContext,
		InlineMax:   cfg.Posting.InlineContextMax,
		Retention:   cfg.Messaging.DedupRetention,
	}
	if claims.Claims != nil {
		limits.Claims = claims.Claims
	}
	return app.NewExpandAudienceHandler(store, tx, dir, up, commands, events, clk, cfg.Directory.PageSize,
		cfg.Directory.MaxAhead, moduleLogger(logger), app.WithContextLimits(limits))
}

func newApplyOutcomes(store domain.Store, tx db.TxRunner, commands *cqrs.CommandBus, events *cqrs.EventBus, clk clock.Clock,
	cfg config.Config, logger *slog.Logger,
) (*app.ApplyDeliveryOutcomesHandler, error) {
	return app.NewApplyDeliveryOutcomesHandler(store, tx, commands, events, clk, cfg.Directory.MaxAhead, moduleLogger(logger))
}

func newCancelPosting(store domain.Store, tx db.TxRunner, events *cqrs.EventBus, clk clock.Clock, logger *slog.Logger) (*app.CancelPostingHandler, error) {
	return app.NewCancelPostingHandler(store, tx, events, clk, moduleLogger(logger))
}

func newScheduler(store domain.Store, tx db.TxRunner, commands *cqrs.CommandBus, clk clock.Clock, logger *slog.Logger) (*app.Scheduler, error) {
	return app.NewScheduler(store, tx, commands, clk, moduleLogger(logger))
}

func newHTTP(create *app.CreatePostingHandler, get *app.GetPostingHandler, list *app.ListPostingsHandler,
	cancel *app.CancelPostingHandler, clk clock.Clock, logger *slog.Logger,
) (*ports.HTTP, error) {
	return ports.NewHTTP(create, get, list, cancel, clk, moduleLogger(logger))
}

// metricsParams takes the application's metrics registry (optional:
// without one, nothing is measured).
type metricsParams struct {
	fx.In
	Registerer prometheus.Registerer `optional:"true"`
	Store      domain.Store
	Clock      clock.Clock
	Logger     *slog.Logger
}

// registerMetrics registers notifier_postings{status} (docs/OPERATIONS.md),
// counted in the store at scrape time, at most every 10 s, each count
// bounded by 2 s.
func registerMetrics(p metricsParams) error {
	if p.Registerer == nil {
		return nil
	}
	count, err := app.NewCountPostingsHandler(p.Store)
	if err != nil {
		return err
	}
	gauge, err := ports.NewPostingsGauge(count, metrics.CachedGaugeOptions{
		TTL: metrics.DefaultTTL, Timeout: metrics.DefaultTimeout, Clock: p.Clock, Logger: moduleLogger(p.Logger),
	})
	if err != nil {
		return err
	}
	if err := p.Registerer.Register(gauge); err != nil {
		return fmt.Errorf("register posting metrics: %w", err)
	}
	return nil
}

// runScheduler runs the scheduler from OnStart to OnStop.
func runScheduler(lc fx.Lifecycle, s *app.Scheduler) {
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			done = make(chan struct{})
			go func() {
				defer close(done)
				s.Run(ctx, SchedulerInterval)
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
}
