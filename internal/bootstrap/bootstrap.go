// Package bootstrap is Notifier's composition root: it picks the platform
// pieces from the configuration and puts them together with the modules
// in one fx application. No business logic lives here.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/notifier/notifier/internal/console"
	"github.com/notifier/notifier/modules/delivery/deliveryfx"
	"github.com/notifier/notifier/modules/eventintake/eventintakefx"
	"github.com/notifier/notifier/modules/posting/postingfx"
	"github.com/notifier/notifier/modules/preferences/preferencesfx"
	"github.com/notifier/notifier/modules/webhooks/webhooksfx"
	"github.com/notifier/notifier/platform/claimcheck"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/jwtauth"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/metrics"
	"github.com/notifier/notifier/platform/poisonqueue"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/tracing"
	"github.com/notifier/notifier/platform/unsubscribe"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

// Options are what the caller decides besides the configuration.
type Options struct {
	Config config.Config
	Logger *slog.Logger
	// Clock defaults to the system clock; tests pass a clock.Fake.
	Clock clock.Clock
	// Upstreams serves logical hosts in-process (tests, the demo
	// directory). Hosts named in Config.Upstreams take precedence.
	Upstreams map[string]http.Handler
	// Version is reported by the API.
	Version string
	// OnPoison sees every message sent to the poison queue.
	OnPoison func(*message.Message)
	// HandlerMiddlewares wrap every message handler inside its unit of
	// work (messaging.Config.Middlewares): faults and holds a test injects.
	HandlerMiddlewares []message.HandlerMiddleware
	// Tracing says whether and where to export traces (LoadTracing); the
	// zero value is off.
	Tracing tracing.Settings
	// TracingOptions are passed to tracing.New: a test's span recorder
	// (tracing.WithSpanProcessor) turns tracing on by itself.
	TracingOptions []tracing.Option
}

// App returns the whole application as fx options.
func App(o Options) fx.Option {
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	// Modules keep state in PostgreSQL when they are given a pool, and in
	// memory otherwise.
	state := fx.Provide(
		func() db.TxRunner { return db.NoTx{} },
		func() claimcheck.Store { return claimcheck.NewMemory(o.Clock.Now) },
	)
	if o.Config.Database.URL != "" {
		state = fx.Provide(
			func(i *infra) *pgxpool.Pool { return i.pools.Bulk },
			func(i *infra) db.Pools { return i.pools },
			func(i *infra) db.TxRunner {
				return db.PoolRunner{Pool: i.pools.Bulk, Transactional: i.pools.Transactional}
			},
			newClaims,
		)
	}
	return fx.Options(
		fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
		fx.Supply(o.Config, o.Logger),
		state,
		fx.Provide(
			func() clock.Clock { return o.Clock },
			metrics.NewRegistry,
			func(r *prometheus.Registry) prometheus.Registerer { return r },
			newInfra,
			func(lc fx.Lifecycle, logger *slog.Logger) (*tracing.Provider, error) {
				return newTracing(lc, o, logger)
			},
			func(cfg config.Config, in *infra, c clock.Clock, logger *slog.Logger, tp *tracing.Provider) (*messaging.Messaging, error) {
				return newMessaging(cfg, in, c, logger, tp, o.HandlerMiddlewares)
			},
			func(m *messaging.Messaging) *cqrs.CommandBus { return m.CommandBus() },
			func(m *messaging.Messaging) *cqrs.EventBus { return m.EventBus() },
			func(m *messaging.Messaging) message.Publisher { return m.Publisher() },
			func(cfg config.Config, logger *slog.Logger, tp *tracing.Provider) (*upstream.Client, error) {
				return newUpstream(cfg, logger, tp, o.Upstreams)
			},
			newRenderer,
			newUnsubscribeLinks,
			newPoisonQueue,
			func(lc fx.Lifecycle, cfg config.Config, c clock.Clock, logger *slog.Logger, reg *prometheus.Registry, tp *tracing.Provider) (*httpapi.Server, error) {
				users, err := newUserTokens(lc, cfg.Auth.JWT, c, logger)
				if err != nil {
					return nil, err
				}
				return httpapi.NewServer(httpapi.Config{
					Addr:         cfg.HTTP.Addr,
					MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
					ReadTimeout:  cfg.HTTP.ReadTimeout,
					WriteTimeout: cfg.HTTP.WriteTimeout,
					IdleTimeout:  cfg.HTTP.IdleTimeout,
					Tokens:       cfg.API.Tokens,
					UserTokens:   users,
					Title:        "Notifier API",
					Version:      o.Version,
					Metrics:      reg,
					Tracing:      tp,
				}, logger)
			},
		),
		postingfx.Module,
		preferencesfx.Module,
		deliveryfx.Module,
		eventintakefx.Module,
		webhooksfx.Module,
		fx.Invoke(func(p wiring) error { return wire(p, o.OnPoison) }),
		fx.Invoke(startPprof),
	)
}

// newUserTokens returns the verifier of users' own tokens, or nil when they
// are off. It loads the JWK Set in the background from the start of the
// application, so that an unreachable auth service delays nothing, and
// stops refreshing it at the end.
func newUserTokens(lc fx.Lifecycle, cfg config.JWT, c clock.Clock, logger *slog.Logger) (httpapi.UserTokenVerifier, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	v, err := jwtauth.New(jwtauth.Config{
		JWKSURL:  cfg.JWKSURL,
		Secret:   cfg.Secret,
		Issuer:   cfg.Issuer,
		Audience: cfg.Audience,
		Leeway:   cfg.Leeway,
		Now:      c.Now,
	}, logger)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { v.Start(); return nil },
		OnStop:  func(context.Context) error { v.Close(); return nil },
	})
	return v, nil
}

// claims is the PostgreSQL claim check store and its sweeper.
type claims struct {
	fx.Out
	Store   claimcheck.Store
	Sweeper db.Sweeper `group:"sweepers"`
}

func newClaims(i *infra) (claims, error) {
	s, err := claimcheck.NewPostgres(i.pools.Bulk)
	if err != nil {
		return claims{}, err
	}
	return claims{Store: s, Sweeper: db.Sweeper{What: "expired claim checks", Sweep: s.Sweep}}, nil
}

func newMessaging(cfg config.Config, in *infra, c clock.Clock, logger *slog.Logger, tp *tracing.Provider, mws []message.HandlerMiddleware) (*messaging.Messaging, error) {
	return messaging.New(messaging.Config{
		Clock:         c,
		MaxRetries:    cfg.Messaging.MaxRetries,
		RetryInterval: cfg.Messaging.RetryInterval,
		UnitOfWork:    in.unit,
		Middlewares:   mws,
		Tracing:       tp,
		System:        messagingSystem(cfg.Transport),
	}, in.transport, in.keys, logger)
}

// messagingSystem is the messaging.system of the consumer spans on a
// transport.
func messagingSystem(transport string) string {
	switch transport {
	case config.TransportAMQP:
		return "rabbitmq"
	case config.TransportSQL:
		return "postgresql"
	default:
		return "gochannel"
	}
}

// newTracing builds the tracer provider the options ask for (off unless
// the settings export or a test records) and flushes it when the
// application stops, after the router and the HTTP server, whose hooks
// were appended after its own.
func newTracing(lc fx.Lifecycle, o Options, logger *slog.Logger) (*tracing.Provider, error) {
	s := o.Tracing
	s.Version = o.Version
	tp, err := tracing.New(context.Background(), s, o.TracingOptions...)
	if err != nil {
		return nil, err
	}
	if tp.Enabled() {
		logger.Info("tracing on", "otlp_export", s.Export)
	}
	lc.Append(fx.Hook{OnStop: tp.Shutdown})
	return tp, nil
}

// newUpstream gives the upstream client the configured hosts and, in
// memory mode or when asked for, the demo directory for auth, fastapi and
// activity_api (configured hosts take precedence). Handlers passed by the
// caller are added on top. With tracing on, every request is a client
// span and carries the trace context.
func newUpstream(cfg config.Config, logger *slog.Logger, tp *tracing.Provider, extra map[string]http.Handler) (*upstream.Client, error) {
	var opts []upstream.Option
	if tp.Enabled() {
		opts = append(opts, upstream.WithTracer(tp.Tracer("github.com/notifier/notifier/platform/upstream")))
	}
	if cfg.UsesDemoDirectory() {
		demo, err := demodirectory.LoadDefault()
		if err != nil {
			return nil, fmt.Errorf("load demo directory: %w", err)
		}
		opts = append(opts,
			upstream.WithHandler("auth", demodirectory.NewAuth(demo)),
			upstream.WithHandler("fastapi", demodirectory.NewFastAPI(demo)),
			upstream.WithHandler("activity_api", demodirectory.NewActivity(demo)),
		)
	}
	for name, h := range extra {
		opts = append(opts, upstream.WithHandler(name, h))
	}
	return upstream.New(upstream.Config{
		Upstreams: cfg.Upstreams,
		Timeout:   cfg.Directory.Timeout,
		Attempts:  cfg.Directory.Attempts,
	}, logger, opts...)
}

// newUnsubscribeLinks signs the links with the configured keys; in memory
// mode without any, with a random key of the process (the configuration
// requires keys elsewhere), so that links work while it runs.
func newUnsubscribeLinks(cfg config.Config, logger *slog.Logger) (*unsubscribe.Links, error) {
	keys := cfg.Unsubscribe.Keys
	if len(keys) == 0 {
		k, err := unsubscribe.RandomKey()
		if err != nil {
			return nil, fmt.Errorf("unsubscribe key: %w", err)
		}
		keys = []string{k}
		logger.Info("unsubscribe links are signed with a random key of this process; they stop working when it stops (set unsubscribe.keys to keep them)")
	}
	signer, err := unsubscribe.New(keys...)
	if err != nil {
		return nil, err
	}
	return unsubscribe.NewLinks(signer, cfg.PublicBaseURL())
}

func newRenderer(cfg config.Config) (*templating.Renderer, error) {
	var fsys fs.FS = templates.FS
	if cfg.Templates.Dir != "" {
		if _, err := os.Stat(cfg.Templates.Dir); err != nil {
			return nil, fmt.Errorf("templates.dir: %w", err)
		}
		fsys = os.DirFS(cfg.Templates.Dir)
	}
	return templating.New(fsys, cfg.Templates.DefaultLocale)
}

// mountConsole serves the web console at /console, over the API handler.
func mountConsole(p wiring) error {
	c, err := console.New(console.Config{
		API:       p.Server.Handler(),
		Tokens:    p.Config.API.Tokens,
		Templates: p.Renderer.Names(),
		Key:       []byte(p.Config.Console.Key),
	}, p.Logger.With("component", "console"))
	if err != nil {
		return err
	}
	p.Server.Handle("/console/", c.Handler())
	return nil
}

type wiring struct {
	fx.In
	Lifecycle       fx.Lifecycle
	Logger          *slog.Logger
	Infra           *infra
	Messaging       *messaging.Messaging
	PoisonQueue     *poisonQueue
	Server          *httpapi.Server
	CommandHandlers []cqrs.CommandHandler  `group:"command_handlers"`
	EventHandlers   []cqrs.EventHandler    `group:"event_handlers"`
	RawHandlers     []messaging.RawHandler `group:"raw_handlers"`
	Routes          []httpapi.Routes       `group:"routes"`
	Sweepers        []db.Sweeper           `group:"sweepers"`
	Config          config.Config
	Renderer        *templating.Renderer
}

// wire registers every module's handlers and routes, and starts the router
// before the HTTP server, so that /readyz and the API never run ahead of
// the handlers.
func wire(p wiring, onPoison func(*message.Message)) error {
	for _, h := range p.CommandHandlers {
		if err := p.Messaging.AddCommandHandler(h); err != nil {
			return err
		}
	}
	for _, h := range p.EventHandlers {
		if err := p.Messaging.AddEventHandler(h); err != nil {
			return err
		}
	}
	for _, h := range p.RawHandlers {
		if err := p.Messaging.AddRawHandler(h); err != nil {
			return err
		}
	}
	if err := p.Messaging.AddPoisonObserver("platform.LogPoisoned", func(msg *message.Message) {
		p.Logger.Warn("message sent to the poison queue",
			"handler", msg.Metadata.Get(middleware.PoisonedHandlerKey),
			"topic", msg.Metadata.Get(middleware.PoisonedTopicKey),
			"reason", msg.Metadata.Get(middleware.ReasonForPoisonedKey),
			"message_uuid", msg.UUID)
		if onPoison != nil {
			onPoison(msg)
		}
	}); err != nil {
		return err
	}
	// Keep poisoned messages for operators: on a broker a queue nothing
	// consumes holds them (the observer above only logs and counts), and
	// the console's store, which they can requeue or discard from.
	if err := p.Messaging.RetainPoisoned(); err != nil {
		return err
	}
	if err := p.Messaging.AddPoisonHandler(poisonqueue.RecorderName, p.PoisonQueue.record.Handle); err != nil {
		return err
	}
	for _, r := range p.Routes {
		r.RegisterRoutes(p.Server.API())
	}
	p.PoisonQueue.routes.RegisterRoutes(p.Server.API())
	if err := mountConsole(p); err != nil {
		return err
	}

	routerDone := make(chan error, 1)
	p.Server.AddReadinessCheck("messaging", func(context.Context) error {
		select {
		case <-p.Messaging.Running():
			return nil
		default:
			return errors.New("router not running")
		}
	})
	if p.Infra.pools.Bulk != nil {
		p.Server.AddReadinessCheck("database", p.Infra.pools.Ping)
		startJanitor(p.Lifecycle, janitorSweepers(p.Infra, p.PoisonQueue, p.Sweepers), p.Logger)
	}
	if p.Infra.broker != nil {
		p.Server.AddReadinessCheck("broker", p.Infra.broker.Ping)
	}
	if o := p.Infra.outbox; o != nil {
		forwarderDone := make(chan error, 1)
		p.Lifecycle.Append(fx.Hook{
			OnStart: func(ctx context.Context) error {
				go func() { forwarderDone <- o.Run(context.Background()) }()
				select {
				case <-o.Running():
					return nil
				case err := <-forwarderDone:
					return fmt.Errorf("outbox forwarder stopped at start: %w", err)
				case <-ctx.Done():
					return fmt.Errorf("outbox forwarder start: %w", ctx.Err())
				}
			},
			// Registered before the router's hook, so it stops after the
			// router: what the last handlers committed is still forwarded.
			OnStop: func(context.Context) error { return o.Stop() },
		})
	}
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			go func() { routerDone <- p.Messaging.Run(context.Background()) }()
			select {
			case <-p.Messaging.Running():
			case err := <-routerDone:
				return fmt.Errorf("router stopped at start: %w", err)
			case <-ctx.Done():
				return fmt.Errorf("router start: %w", ctx.Err())
			}
			if err := p.Server.Start(ctx); err != nil {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		},
		OnStop: func(ctx context.Context) error {
			// Stop taking requests, then drain the handlers in flight.
			serr := p.Server.Stop(ctx)
			merr := p.Messaging.Close()
			select {
			case <-routerDone:
			case <-time.After(time.Second):
			}
			return errors.Join(serr, merr)
		},
	})
	return nil
}
