// Package webhooksfx wires the webhooks module into an fx application.
//
// It needs from the graph: config.Config, *slog.Logger and clock.Clock,
// and takes an optional *pgxpool.Pool (with one, endpoints, messages and
// attempts are kept in PostgreSQL; without, in memory), optional db.Pools
// (the endpoints an event goes to are read on the pool of its lane) and an
// optional prometheus.Registerer (the application's registry). It
// contributes its event handlers (webhooks.EnqueueOnDeliveryOutcomes,
// which observes delivery.DeliveryOutcomes beside the posting module, and
// webhooks.EnqueueOnPostingFinished), each once per lane, to
// "event_handlers", its HTTP routes to "routes", and runs the dispatcher
// while the application runs: with PostgreSQL on a pool of its own of
// webhooks.database_conns connections, so that calls to slow endpoints
// never hold a connection the deliveries need. Its store and use cases
// stay private.
package webhooksfx

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/notifier/notifier/modules/webhooks/internal/adapters/httpsender"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/memory"
	webhookmetrics "github.com/notifier/notifier/modules/webhooks/internal/adapters/metrics"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/modules/webhooks/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/egress"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/metrics"
)

// Module is the webhooks module.
var Module = fx.Module("webhooks",
	fx.Provide(
		fx.Private,
		newStores,
		newPolicy,
		newCreate,
		app.NewListEndpointsHandler,
		app.NewGetEndpointHandler,
		newDelete,
		newRotate,
		newEnable,
		newPatch,
		app.NewListAttemptsHandler,
		newEnqueueOnOutcomes,
		newEnqueueOnFinished,
	),
	fx.Provide(
		fx.Annotate(newOutcomesHandlers, fx.ResultTags(`group:"event_handlers,flatten"`)),
		fx.Annotate(newFinishedHandlers, fx.ResultTags(`group:"event_handlers,flatten"`)),
		fx.Annotate(newHTTP, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`)),
	),
	fx.Invoke(runDispatcher),
	fx.Invoke(registerGauges),
)

func moduleLogger(l *slog.Logger) *slog.Logger { return l.With("module", "webhooks") }

// stores are the module's store, and the one its dispatcher works on: the
// same in memory, the same tables on a pool of its own with PostgreSQL.
type stores struct {
	fx.Out
	Store    app.Store
	Dispatch dispatchStore
}

type dispatchStore struct{ app.Store }

type storeParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    config.Config
	Pool      *pgxpool.Pool `optional:"true"`
	Pools     db.Pools      `optional:"true"`
}

// newStores keeps the module's state in PostgreSQL when there is a pool,
// else in memory.
func newStores(p storeParams) (stores, error) {
	if p.Pool == nil {
		s := memory.New()
		return stores{Store: s, Dispatch: dispatchStore{s}}, nil
	}
	pools := p.Pools
	if pools.Bulk == nil {
		pools = db.Pools{Bulk: p.Pool}
	}
	s, err := postgres.New(pools)
	if err != nil {
		return stores{}, err
	}
	own := p.Pool
	if url := p.Config.Database.URL; url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if own, err = db.Open(ctx, url, db.MaxConns(p.Config.Webhooks.DatabaseConns)); err != nil {
			return stores{}, fmt.Errorf("webhooks dispatcher pool: %w", err)
		}
		p.Lifecycle.Append(fx.Hook{OnStop: func(context.Context) error { own.Close(); return nil }})
	}
	d, err := postgres.New(db.Pools{Bulk: own})
	if err != nil {
		return stores{}, err
	}
	return stores{Store: s, Dispatch: dispatchStore{d}}, nil
}

func newPolicy(cfg config.Config) (egress.Policy, error) {
	if err := Validate(cfg); err != nil {
		return egress.Policy{}, err
	}
	return egress.NewPolicy(cfg.Webhooks.AllowedHosts)
}

func newCreate(s app.Store, p egress.Policy, clk clock.Clock, logger *slog.Logger) (*app.CreateEndpointHandler, error) {
	return app.NewCreateEndpointHandler(s, p, clk, moduleLogger(logger))
}

func newDelete(s app.Store, logger *slog.Logger) (*app.DeleteEndpointHandler, error) {
	return app.NewDeleteEndpointHandler(s, moduleLogger(logger))
}

func newRotate(s app.Store, cfg config.Config, clk clock.Clock, logger *slog.Logger) (*app.RotateSecretHandler, error) {
	return app.NewRotateSecretHandler(s, cfg.Webhooks.RotationGrace, clk, moduleLogger(logger))
}

func newPatch(s app.Store, policy egress.Policy, clk clock.Clock, logger *slog.Logger) (*app.PatchEndpointHandler, error) {
	return app.NewPatchEndpointHandler(s, policy, clk, moduleLogger(logger))
}

func newEnable(s app.Store, cfg config.Config, clk clock.Clock, logger *slog.Logger) (*app.EnableEndpointHandler, error) {
	return app.NewEnableEndpointHandler(s, cfg.Webhooks.MaxAge, clk, moduleLogger(logger))
}

func newEnqueueOnOutcomes(s app.Store, cfg config.Config, clk clock.Clock, logger *slog.Logger) (*app.EnqueueOnDeliveryOutcomes, error) {
	return app.NewEnqueueOnDeliveryOutcomes(s, cfg.Webhooks.MaxAge, clk, moduleLogger(logger))
}

func newEnqueueOnFinished(s app.Store, cfg config.Config, clk clock.Clock, logger *slog.Logger) (*app.EnqueueOnPostingFinished, error) {
	return app.NewEnqueueOnPostingFinished(s, cfg.Webhooks.MaxAge, clk, moduleLogger(logger))
}

// newOutcomesHandlers watches the outcomes of both lanes, on each lane's
// own queue, connections and concurrency.
func newOutcomesHandlers(uc *app.EnqueueOnDeliveryOutcomes) ([]cqrs.EventHandler, error) {
	h, err := ports.NewEnqueueOnDeliveryOutcomes(uc)
	if err != nil {
		return nil, err
	}
	return messaging.EventHandlerOnLanes(h), nil
}

func newFinishedHandlers(uc *app.EnqueueOnPostingFinished) ([]cqrs.EventHandler, error) {
	h, err := ports.NewEnqueueOnPostingFinished(uc)
	if err != nil {
		return nil, err
	}
	return messaging.EventHandlerOnLanes(h), nil
}

type httpParams struct {
	fx.In
	Create   *app.CreateEndpointHandler
	List     *app.ListEndpointsHandler
	Get      *app.GetEndpointHandler
	Delete   *app.DeleteEndpointHandler
	Rotate   *app.RotateSecretHandler
	Enable   *app.EnableEndpointHandler
	Attempts *app.ListAttemptsHandler
	Patch    *app.PatchEndpointHandler
	Clock    clock.Clock
}

func newHTTP(p httpParams) (*ports.HTTP, error) {
	return ports.NewHTTP(ports.HTTPHandlers{
		Create: p.Create, List: p.List, Get: p.Get, Delete: p.Delete, Rotate: p.Rotate, Enable: p.Enable, Attempts: p.Attempts,
		Patch: p.Patch,
	}, p.Clock)
}

type dispatcherParams struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Config     config.Config
	Logger     *slog.Logger
	Clock      clock.Clock
	Store      dispatchStore
	Policy     egress.Policy
	Registerer prometheus.Registerer `optional:"true"`
}

// runDispatcher sends the due messages from OnStart to OnStop, every
// webhooks.poll_interval.
func runDispatcher(p dispatcherParams) error {
	cfg := p.Config.Webhooks
	sender, err := httpsender.New(egress.NewDialer(p.Policy, nil, cfg.Timeout), cfg.Timeout, cfg.EndpointConcurrency)
	if err != nil {
		return err
	}
	reg := p.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := webhookmetrics.New(reg)
	if err != nil {
		return err
	}
	d, err := app.NewDispatcher(p.Store, sender, m, p.Clock, moduleLogger(p.Logger), app.DispatcherConfig{
		Concurrency:         cfg.Concurrency,
		EndpointConcurrency: cfg.EndpointConcurrency,
		Timeout:             cfg.Timeout,
		Policy:              domain.RetryPolicy{Backoff: cfg.Backoff, MaxBackoff: cfg.MaxBackoff, MaxAge: cfg.MaxAge},
	})
	if err != nil {
		return err
	}
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			done = make(chan struct{})
			go func() {
				defer close(done)
				d.Run(ctx, cfg.PollInterval)
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			defer sender.Close()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	return nil
}

type gaugeParams struct {
	fx.In
	Registerer prometheus.Registerer `optional:"true"`
	Store      app.Store
	Clock      clock.Clock
	Logger     *slog.Logger
}

// registerGauges registers notifier_webhook_messages_pending and
// notifier_webhook_endpoints{state} (docs/OPERATIONS.md).
func registerGauges(p gaugeParams) error {
	if p.Registerer == nil {
		return nil
	}
	gauges, err := ports.NewGauges(p.Store, metrics.CachedGaugeOptions{
		TTL: metrics.DefaultTTL, Timeout: metrics.DefaultTimeout, Clock: p.Clock, Logger: moduleLogger(p.Logger),
	})
	if err != nil {
		return err
	}
	for _, g := range gauges {
		if err := p.Registerer.Register(g); err != nil {
			return fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	return nil
}
