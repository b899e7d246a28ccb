// Package deliveryfx wires the delivery module into an fx application.
//
// The module needs from the graph: config.Config, *slog.Logger,
// clock.Clock, *cqrs.EventBus and *templating.Renderer. It contributes:
//   - two cqrs.CommandHandler values to the group "command_handlers", one
//     per delivery lane ("delivery.DeliverBatch.transactional" and
//     "delivery.DeliverBatch.bulk"), each with its own pool of workers
//     (delivery.workers) sharing the lane's senders (delivery.connections:
//     SMTP connections, SMS gateway clients), started and stopped with the
//     application;
//   - one cqrs.EventHandler to "event_handlers"
//     ("delivery.CancelDeliveriesOnPostingCancelled");
//   - five httpapi.Routes to "routes" (a posting's deliveries and the
//     template preview; a user's deliveries; what is held for a user's
//     digests; the suppression list; the users' in-app inboxes and their
//     event streams);
//   - the shared *capture.Outbox, which receives email when smtp.addr is
//     empty and SMS when sms.url is empty. A test harness reads it with
//     fx.Populate(&outbox).
//
// It reads the template contexts stored once by the posting module from
// the optional claimcheck.Store of the graph. Its store is private to the module: PostgreSQL when the graph holds a
// *pgxpool.Pool (optional; the composition root provides it when
// database.url is set), memory otherwise; with db.Pools in the graph
// (optional) the transactional lane's store writes on that lane's own
// connections, and so does its suppression list (table
// delivery_suppressions, checked once per batch), and so is the in-app
// inbox (table inbox_messages) the inapp channel writes and the inbox
// routes read; its expired messages are swept every minute. Its metrics go to the graph's
// prometheus.Registerer (optional: the application's registry). With the
// graph's *tracing.Provider on (optional), every send has a span.
package deliveryfx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/breaker"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/capturesender"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/inboxsender"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/metrics"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/ratelimit"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/smsgateway"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/smtp"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/modules/delivery/internal/ports"
	"github.com/notifier/notifier/platform/claimcheck"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/quiethours"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/tracing"
	"github.com/notifier/notifier/platform/unsubscribe"
)

// Module is the delivery module.
var Module = fx.Module("delivery",
	fx.Provide(NewOutbox),
	fx.Provide(fx.Private, newStore),
	fx.Provide(fx.Private, newSuppressions),
	fx.Provide(fx.Private, newMetrics),
	fx.Provide(fx.Private, newDeferred),
	fx.Invoke(resumeDeferred),
	fx.Provide(fx.Private, newDigests),
	fx.Invoke(flushDigests),
	fx.Provide(fx.Private, newInbox, app.NewInboxHub),
	fx.Invoke(sweepInbox),
	fx.Provide(newLanes),
	fx.Provide(fx.Annotate(newCancelHandler, fx.As(new(cqrs.EventHandler)), fx.ResultTags(`group:"event_handlers"`))),
	fx.Provide(fx.Annotate(newRoutes, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`))),
	fx.Provide(fx.Annotate(newUserDeliveriesRoutes, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`))),
	fx.Provide(fx.Annotate(newDigestRoutes, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`))),
	fx.Provide(fx.Annotate(newSuppressionRoutes, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`))),
	fx.Provide(fx.Annotate(newInboxRoutes, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`))),
)

// newDeferred returns the store of what waits for the end of quiet hours:
// PostgreSQL (the bulk pool) when there is a pool, else memory.
func newDeferred(p storeParams) (app.DeferredStore, error) {
	if p.Pool == nil {
		return memory.NewDeferred(), nil
	}
	return postgres.NewDeferred(p.Pool)
}

// pollParams are what the module's pollers need.
type pollParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    config.Config
	Logger    *slog.Logger
	Clock     clock.Clock
	Deferred  app.DeferredStore
	Digests   app.DigestStore
	// Commands sends the batches (optional: without a bus, as in tests of
	// the module alone, nothing resumes deferred batches and no digest
	// goes).
	Commands *cqrs.CommandBus `optional:"true"`
}

// resumeDeferred sends the deferred batches again once their quiet hours
// are over, every delivery.deferred_poll_interval, while the application
// runs.
func resumeDeferred(p pollParams) error {
	if p.Commands == nil {
		return nil
	}
	r, err := app.NewResumeDeferredBatches(p.Deferred, p.Commands, p.Clock, p.Logger.With("module", "delivery"))
	if err != nil {
		return err
	}
	return runEvery(p.Lifecycle, func(ctx context.Context) { r.Run(ctx, p.Config.Delivery.DeferredPollInterval) })
}

// newDigests returns the store of the deliveries held for digests:
// PostgreSQL (the bulk pool) when there is a pool, else memory.
func newDigests(p storeParams) (app.DigestStore, error) {
	if p.Pool == nil {
		return memory.NewDigests(), nil
	}
	return postgres.NewDigests(p.Pool)
}

// flushDigests sends the digests that are due, every
// delivery.deferred_poll_interval, while the application runs, and
// forgets those closed longer ago than messaging.dedup_retention (a late
// copy of a batch finds its deliveries held until then). It runs whether
// or not a type is a digest now: what an earlier configuration held still
// goes.
func flushDigests(p pollParams) error {
	if p.Commands == nil {
		return nil
	}
	f, err := app.NewFlushDigests(p.Digests, p.Commands, p.Clock, p.Logger.With("module", "delivery"), p.Config.Messaging.DedupRetention)
	if err != nil {
		return err
	}
	return runEvery(p.Lifecycle, func(ctx context.Context) { f.Run(ctx, p.Config.Delivery.DeferredPollInterval) })
}

// runEvery runs loop on a goroutine from the application's start until
// its stop, which waits for it.
func runEvery(lc fx.Lifecycle, loop func(ctx context.Context)) error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() { defer close(done); loop(ctx) }()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-stop.Done():
				return stop.Err()
			}
		},
	})
	return nil
}

// digestPolicies turns delivery.digests into the handler's policies and
// checks that each digest's template exists, with a file for every
// recipient, on the channels it holds (when it names none: the channels
// with such a file, at least one, and only those are held).
func digestPolicies(cfg config.Config, renderer *templating.Renderer) (map[string]app.DigestPolicy, error) {
	out := make(map[string]app.DigestPolicy, len(cfg.Delivery.Digests))
	var errs []error
	for typ, d := range cfg.Delivery.Digests {
		p := app.DigestPolicy{Window: d.Window, Channels: d.Channels, Template: d.Template, GroupBy: d.GroupBy, MaxItems: d.MaxItems}
		if d.At != "" {
			at, err := quiethours.ParseClock(d.At)
			if err != nil {
				errs = append(errs, fmt.Errorf("delivery.digests.%s.at: %w", typ, err))
				continue
			}
			p.At = at
		}
		if p.Template == "" {
			p.Template = app.DigestTemplateFor(typ)
		}
		if p.MaxItems == 0 {
			p.MaxItems = config.DefaultDigestMaxItems
		}
		channels := d.Channels
		if len(channels) == 0 {
			for _, ch := range []string{domain.ChannelEmail, domain.ChannelSMS, domain.ChannelInApp, domain.ChannelWebhook} {
				if renderer.Exists(ch + "/" + p.Template) {
					channels = append(channels, ch)
				}
			}
			if len(channels) == 0 {
				errs = append(errs, fmt.Errorf("delivery.digests.%s: no channel has the template %s (email/%s, inapp/%s…)", typ, p.Template, p.Template, p.Template))
				continue
			}
			// Only those are held: a channel without the template sends
			// the type as it comes.
			p.Channels = channels
		}
		for _, ch := range channels {
			if err := renderer.Validate(ch + "/" + p.Template); err != nil {
				errs = append(errs, fmt.Errorf("delivery.digests.%s: template %s/%s: %w", typ, ch, p.Template, err))
			}
		}
		out[typ] = p
	}
	return out, errors.Join(errs...)
}

// NewOutbox returns the capture outbox of the application, logging each
// capture to logger.
func NewOutbox(logger *slog.Logger) *capture.Outbox {
	return capture.NewOutbox(logger.With("module", "delivery"))
}

// storeParams takes the pool the composition root provides when
// database.url is set.
type storeParams struct {
	fx.In
	Pool *pgxpool.Pool `optional:"true"`
}

// metricsParams takes the application's metrics registry (optional:
// without one, the module's metrics are kept but served nowhere).
type metricsParams struct {
	fx.In
	Registerer prometheus.Registerer `optional:"true"`
	Clock      clock.Clock
}

// newMetrics registers the delivery metrics (docs/OPERATIONS.md) with the
// application's registry.
func newMetrics(p metricsParams) (app.Metrics, error) {
	reg := p.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return metrics.New(reg, p.Clock)
}

// newStore returns the PostgreSQL store when there is a pool, else the
// in-memory store.
func newStore(p storeParams) (app.Store, error) {
	if p.Pool == nil {
		return memory.New(), nil
	}
	return postgres.New(p.Pool)
}

// newSuppressions returns the suppression list on the PostgreSQL pool when
// there is one, else in memory (one list for both lanes and the HTTP port).
func newSuppressions(p storeParams) (app.SuppressionStore, error) {
	if p.Pool == nil {
		return memory.NewSuppressions(), nil
	}
	return postgres.NewSuppressions(p.Pool)
}

type deps struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    config.Config
	Logger    *slog.Logger
	Clock     clock.Clock
	Events    *cqrs.EventBus
	Renderer  *templating.Renderer
	Outbox    *capture.Outbox
	Store     app.Store
	// Suppressions is the suppression list every batch is checked
	// against.
	Suppressions app.SuppressionStore
	// Pools gives the transactional lane a store and a suppression list
	// on connections of its own (optional: without, both lanes use Store
	// and Suppressions).
	Pools   db.Pools `optional:"true"`
	Metrics app.Metrics
	// Claims holds the template contexts too large to travel in every
	// batch (optional: without it such a batch goes to the poison queue).
	Claims claimcheck.Store `optional:"true"`
	// Unsubscribe makes the one-click unsubscribe links of emails
	// (optional: without it emails carry none).
	Unsubscribe *unsubscribe.Links `optional:"true"`
	// Deferred keeps what waits for the end of quiet hours.
	Deferred app.DeferredStore
	// Digests keeps what is held for digests.
	Digests app.DigestStore
	// Tracing gives every send a span when it is on (optional).
	Tracing *tracing.Provider `optional:"true"`
	// Inbox and InboxHub take the messages of the inapp channel.
	Inbox    app.InboxStore
	InboxHub *app.InboxHub
}

// claimCacheSize is how many stored template contexts the lanes keep
// decoded bytes of: the postings being delivered at once.
const claimCacheSize = 16

type lanes struct {
	fx.Out
	Transactional cqrs.CommandHandler `group:"command_handlers"`
	Bulk          cqrs.CommandHandler `group:"command_handlers"`
}

// newLanes builds the handler of each lane on a pool of workers of its own
// (delivery.workers) with connections of its own (delivery.connections), so
// that a mailing never occupies a worker or a connection of the codes. The pools start with the
// application and stop after the router. The channels' rate limits
// (delivery.rate_limits) are shared by the lanes: the bulk lane waits for
// them, the transactional lane passes at once and is counted (see package
// ratelimit).
func newLanes(d deps) (lanes, error) {
	if d.Events == nil || d.Renderer == nil {
		return lanes{}, errors.New("delivery: event bus and renderer are required")
	}
	cfg := d.Config.Delivery
	if err := validate(cfg); err != nil {
		return lanes{}, err
	}
	logger := d.Logger.With("module", "delivery")
	policy := app.RetryPolicy{
		MaxAttempts: cfg.MaxAttempts,
		Backoff:     cfg.Backoff,
		MaxBackoff:  cfg.MaxBackoff,
		MaxWaiting:  cfg.MaxWaitingRetries,
	}
	limits := map[string]*ratelimit.Limiter{}
	for ch, perSecond := range cfg.RateLimits {
		if perSecond > 0 {
			limits[ch] = ratelimit.New(perSecond)
		}
	}
	// Every batch of a large posting reads the same stored context: both
	// lanes share a cache of the last few.
	var claims *claimcheck.Cached
	if d.Claims != nil {
		claims = claimcheck.NewCached(d.Claims, claimCacheSize)
	}
	providers, err := newProviders(d.Config, d.Metrics)
	if err != nil {
		return lanes{}, err
	}
	policies, err := digestPolicies(d.Config, d.Renderer)
	if err != nil {
		return lanes{}, err
	}
	defaultZone, err := time.LoadLocation(d.Config.Preferences.DefaultTimezone)
	if err != nil {
		return lanes{}, fmt.Errorf("preferences.default_timezone: %w", err)
	}
	inbox, err := inboxsender.New(d.Inbox, d.InboxHub, d.Clock)
	if err != nil {
		return lanes{}, fmt.Errorf("delivery: %w", err)
	}
	if err := validateWebhookChannel(d.Config); err != nil {
		return lanes{}, err
	}
	webhookSecrets, err := webhookSecrets(d.Config, logger)
	if err != nil {
		return lanes{}, err
	}
	build := func(lane string) (*ports.DeliverBatchLane, error) {
		laneLogger := logger.With("lane", lane)
		webhook, closeWebhook, err := newWebhookSender(d.Config, webhookSecrets, d.Clock, providers.metrics)
		if err != nil {
			return nil, err
		}
		d.Lifecycle.Append(fx.Hook{OnStop: func(context.Context) error { closeWebhook(); return nil }})
		newSenders := func() (app.Senders, error) {
			senders, err := newSenders(d.Config, d.Outbox, d.Clock, laneLogger, providers, lane)
			if err != nil {
				return nil, err
			}
			senders[domain.ChannelInApp] = inbox // one for every worker: it only writes to the inbox
			// One HTTP client for the lane's workers: it is safe for
			// concurrent use and keeps its connections per endpoint.
			senders[domain.ChannelWebhook] = webhook
			return senders, nil
		}
		// More connections than workers would never all be used.
		connections := cfg.Workers[lane]
		if m, ok := cfg.Connections[lane]; ok {
			connections = min(m, connections)
		}
		workers, err := app.NewWorkers(cfg.Workers[lane], newSenders, laneLogger, app.WithConnections(connections))
		if err != nil {
			return nil, fmt.Errorf("delivery: %s lane: %w", lane, err)
		}
		d.Lifecycle.Append(fx.Hook{
			OnStart: func(context.Context) error { workers.Start(); return nil },
			OnStop:  workers.Stop,
		})
		limiters := app.Limiters{}
		for ch, l := range limits {
			if lane == delivery.LaneTransactional {
				limiters[ch] = l.Priority()
			} else {
				limiters[ch] = l
			}
		}
		opts := []app.DeliverBatchOption{app.WithLimiters(limiters), app.WithMetrics(d.Metrics)}
		if d.Unsubscribe != nil {
			opts = append(opts, app.WithUnsubscribeLinks(d.Unsubscribe))
		}
		opts = append(opts, app.WithQuietHours(d.Deferred), app.WithDigests(d.Digests, policies, defaultZone))
		if d.Tracing.Enabled() {
			opts = append(opts, app.WithTracing(d.Tracing.Tracer(tracerScope), sendSpanNames(d.Config)))
		}
		if d.Claims != nil {
			opts = append(opts, app.WithClaims(claims, func(err error) bool { return errors.Is(err, claimcheck.ErrNotFound) }))
		}
		store, suppressions := d.Store, app.SuppressionList(d.Suppressions)
		if lane == delivery.LaneTransactional && d.Pools.Transactional != nil {
			if store, err = postgres.New(d.Pools.Transactional); err != nil {
				return nil, err
			}
			if suppressions, err = postgres.NewSuppressions(d.Pools.Transactional); err != nil {
				return nil, err
			}
		}
		opts = append(opts, app.WithSuppressions(suppressions))
		h, err := app.NewDeliverBatchHandler(store, d.Renderer, workers, d.Events, d.Clock, policy, laneLogger, opts...)
		if err != nil {
			return nil, err
		}
		laneLogger.Info("delivery workers", "workers", workers.Size(), "connections", workers.Connections(),
			"email", providers.names(domain.ChannelEmail), "sms", providers.names(domain.ChannelSMS),
			"webhook_channel", len(webhookSecrets) > 0, "rate_limits", cfg.RateLimits)
		return ports.NewDeliverBatchLane(lane, h)
	}
	transactional, err := build(delivery.LaneTransactional)
	if err != nil {
		return lanes{}, err
	}
	bulk, err := build(delivery.LaneBulk)
	if err != nil {
		return lanes{}, err
	}
	return lanes{Transactional: transactional, Bulk: bulk}, nil
}

// validate checks the delivery settings this module adds, naming the
// offending key.
func validate(cfg config.Delivery) error {
	var errs []error
	for lane, n := range cfg.Workers {
		if lane != delivery.LaneTransactional && lane != delivery.LaneBulk {
			errs = append(errs, fmt.Errorf("delivery.workers.%s: unknown lane (transactional, bulk)", lane))
		} else if n < 1 {
			errs = append(errs, fmt.Errorf("delivery.workers.%s: %d, at least 1 needed", lane, n))
		}
	}
	for _, lane := range []string{delivery.LaneTransactional, delivery.LaneBulk} {
		if _, ok := cfg.Workers[lane]; !ok {
			errs = append(errs, fmt.Errorf("delivery.workers.%s: missing", lane))
		}
	}
	for lane, m := range cfg.Connections {
		if lane != delivery.LaneTransactional && lane != delivery.LaneBulk {
			errs = append(errs, fmt.Errorf("delivery.connections.%s: unknown lane (transactional, bulk)", lane))
		} else if m < 1 {
			errs = append(errs, fmt.Errorf("delivery.connections.%s: %d, at least 1 needed", lane, m))
		}
	}
	for ch, perSecond := range cfg.RateLimits {
		if ch != domain.ChannelEmail && ch != domain.ChannelSMS && ch != domain.ChannelWebhook {
			errs = append(errs, fmt.Errorf("delivery.rate_limits.%s: unknown channel (email, sms, webhook; the inbox has no limit)", ch))
		} else if perSecond < 0 {
			errs = append(errs, fmt.Errorf("delivery.rate_limits.%s: %v is negative (0 means unlimited)", ch, perSecond))
		}
	}
	for _, lane := range []string{delivery.LaneTransactional, delivery.LaneBulk} {
		if n := cfg.Workers[lane]; cfg.MaxWaitingRetries < max(n, 1) {
			errs = append(errs, fmt.Errorf("delivery.max_waiting_retries: %d is below delivery.workers.%s (%d): the workers could not all send",
				cfg.MaxWaitingRetries, lane, n))
		}
	}
	return errors.Join(errs...)
}

// tracerScope is the instrumentation scope of the send spans.
const tracerScope = "github.com/notifier/notifier/modules/delivery"

// sendSpanNames names the span of a send after what takes it: "smtp.send"
// and "sms.send" for the SMTP server and the SMS gateway, "capture.send"
// for the capture channel, "webhook.send" for the webhook channel's call.
func sendSpanNames(cfg config.Config) map[string]string {
	return map[string]string{
		domain.ChannelEmail:   channelName(len(cfg.SMTP.Servers()) > 0, "smtp") + ".send",
		domain.ChannelSMS:     channelName(len(cfg.SMS.Gateways()) > 0, "sms") + ".send",
		domain.ChannelWebhook: "webhook.send",
	}
}

func channelName(configured bool, name string) string {
	if configured {
		return name
	}
	return "capture"
}

// newSenders returns the senders of one connection of lane: for each
// channel a Failover over its providers in priority order (the SMTP servers
// of smtp and smtp.providers, each with a connection of this set's own; the
// SMS gateways of sms and sms.providers, each with an HTTP client of its
// own), or over the capture outbox when the channel has none. The
// providers' breakers and rate limits are shared by every connection and
// both lanes (see newProviders). The worker closes them when it stops.
func newSenders(cfg config.Config, outbox *capture.Outbox, clk clock.Clock, logger *slog.Logger,
	shared providers, lane string,
) (app.Senders, error) {
	captured, err := capturesender.New(outbox, clk)
	if err != nil {
		return nil, err
	}
	channel := func(ch string, senders []app.Sender) (app.Sender, error) {
		if len(senders) == 0 {
			return app.NewFailover(ch, []app.Provider{{Name: capturedName, Sender: captured}}, nil)
		}
		list := make([]app.Provider, len(senders))
		for i, s := range senders {
			p := shared.byChannel[ch][i]
			list[i] = app.Provider{Name: p.name, Sender: s}
			if p.breaker != nil {
				list[i].Breaker = p.breaker
			}
			if p.limit != nil {
				list[i].Limiter = p.limit
				if lane == delivery.LaneTransactional {
					list[i].Limiter = p.limit.Priority()
				}
			}
		}
		return app.NewFailover(ch, list, shared.metrics)
	}
	var email, sms []app.Sender
	for _, s := range cfg.SMTP.Servers() {
		sender, err := smtp.New(smtp.Config{
			Addr: s.Value.Addr, From: s.Value.From, TLS: s.Value.TLS,
			Username: s.Value.Username, Password: s.Value.Password,
		}, logger.With("provider", s.Value.Name))
		if err != nil {
			return nil, fmt.Errorf("delivery: %s: %w", s.Key, err)
		}
		email = append(email, sender)
	}
	for _, g := range cfg.SMS.Gateways() {
		sender, err := smsgateway.New(smsgateway.Config{URL: g.Value.URL, Timeout: g.Value.Timeout})
		if err != nil {
			return nil, fmt.Errorf("delivery: %s: %w", g.Key, err)
		}
		sms = append(sms, sender)
	}
	senders := app.Senders{}
	if senders[domain.ChannelEmail], err = channel(domain.ChannelEmail, email); err != nil {
		return nil, err
	}
	if senders[domain.ChannelSMS], err = channel(domain.ChannelSMS, sms); err != nil {
		return nil, err
	}
	return senders, nil
}

// capturedName is the provider of the capture channel in delivery records.
const capturedName = "capture"

// providers holds what the senders of every connection share, per channel,
// one entry per provider in priority order: its breaker (only when the
// channel has several providers: alone, it has nowhere to fail over to)
// and its rate limit (nil: unlimited). metrics measures them.
type providers struct {
	byChannel map[string][]sharedProvider
	metrics   providerMetrics
}

type sharedProvider struct {
	name    string
	breaker *breaker.Breaker
	limit   *ratelimit.Limiter
}

// providerMetrics is what the providers report to (adapters/metrics).
type providerMetrics interface {
	app.ProviderMetrics
	CircuitState(channel, provider string, state int)
}

// noProviderMetrics measures nothing, for Metrics without provider
// metrics (tests).
type noProviderMetrics struct{}

func (noProviderMetrics) ProviderSend(string, string, string) {}
func (noProviderMetrics) CircuitState(string, string, int)    {}

func (p providers) names(ch string) []string {
	var out []string
	for _, s := range p.byChannel[ch] {
		out = append(out, s.name)
	}
	if out == nil {
		return []string{capturedName}
	}
	return out
}

// newProviders makes the breakers and rate limits of the providers of
// every channel, once for the process (smtp.providers, sms.providers,
// delivery.breaker).
func newProviders(cfg config.Config, m app.Metrics) (providers, error) {
	pm, ok := m.(providerMetrics)
	if !ok {
		pm = noProviderMetrics{}
	}
	p := providers{byChannel: map[string][]sharedProvider{}, metrics: pm}
	type named struct {
		name string
		rate float64
	}
	var email, sms []named
	for _, s := range cfg.SMTP.Servers() {
		email = append(email, named{s.Value.Name, s.Value.RateLimit})
	}
	for _, g := range cfg.SMS.Gateways() {
		sms = append(sms, named{g.Value.Name, g.Value.RateLimit})
	}
	for ch, list := range map[string][]named{domain.ChannelEmail: email, domain.ChannelSMS: sms} {
		for _, n := range list {
			s := sharedProvider{name: n.name}
			if n.rate > 0 {
				s.limit = ratelimit.New(n.rate)
			}
			if len(list) > 1 {
				b, err := breaker.New(ch+"/"+n.name, breaker.Settings{
					Failures: cfg.Delivery.Breaker.Failures, OpenFor: cfg.Delivery.Breaker.OpenFor,
				}, func(st breaker.State) { pm.CircuitState(ch, n.name, int(st)) })
				if err != nil {
					return providers{}, fmt.Errorf("delivery: %w", err)
				}
				s.breaker = b
			}
			p.byChannel[ch] = append(p.byChannel[ch], s)
		}
	}
	return p, nil
}

func newCancelHandler(store app.Store, events *cqrs.EventBus, clk clock.Clock, logger *slog.Logger, m app.Metrics,
) (*ports.CancelDeliveriesOnPostingCancelled, error) {
	if events == nil {
		return nil, errors.New("delivery: event bus is required")
	}
	h, err := app.NewCancelDeliveriesOnPostingCancelled(store, events, clk, logger.With("module", "delivery"),
		app.WithCancelMetrics(m))
	if err != nil {
		return nil, err
	}
	return ports.NewCancelDeliveriesOnPostingCancelled(h)
}

func newRoutes(store app.Store, renderer *templating.Renderer) (*ports.HTTP, error) {
	if renderer == nil {
		return nil, errors.New("delivery: renderer is required")
	}
	list, err := app.NewListDeliveriesHandler(store)
	if err != nil {
		return nil, err
	}
	preview, err := app.NewPreviewTemplateHandler(renderer)
	if err != nil {
		return nil, err
	}
	return ports.NewHTTP(list, preview)
}

func newUserDeliveriesRoutes(store app.Store) (*ports.UserDeliveriesHTTP, error) {
	list, err := app.NewListUserDeliveriesHandler(store)
	if err != nil {
		return nil, err
	}
	return ports.NewUserDeliveriesHTTP(list)
}

func newDigestRoutes(store app.DigestStore) (*ports.DigestsHTTP, error) {
	list, err := app.NewListOpenDigestsHandler(store)
	if err != nil {
		return nil, err
	}
	return ports.NewDigestsHTTP(list)
}

func newSuppressionRoutes(list app.SuppressionStore, clk clock.Clock, logger *slog.Logger, m app.Metrics) (*ports.SuppressionsHTTP, error) {
	logger = logger.With("module", "delivery")
	add, err := app.NewAddSuppressionHandler(list, clk, logger, m)
	if err != nil {
		return nil, err
	}
	query, err := app.NewListSuppressionsHandler(list)
	if err != nil {
		return nil, err
	}
	remove, err := app.NewDeleteSuppressionHandler(list, logger)
	if err != nil {
		return nil, err
	}
	return ports.NewSuppressionsHTTP(add, query, remove)
}
