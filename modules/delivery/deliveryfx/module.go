// Package deliveryfx wires the delivery module into an fx application.
//
// The module needs from the graph: config.Config, *slog.Logger,
// clock.Clock, *cqrs.EventBus and *templating.Renderer. It contributes:
//   - two cqrs.CommandHandler values to the group "command_handlers", one
//     per delivery lane ("delivery.DeliverBatch.transactional" and
//     "delivery.DeliverBatch.bulk"), each with its own channel senders (its
//     own SMTP connection);
//   - one cqrs.EventHandler to "event_handlers"
//     ("delivery.CancelDeliveriesOnPostingCancelled");
//   - one httpapi.Routes to "routes" (the deliveries list and the template
//     preview);
//   - the shared *capture.Outbox, which receives email when smtp.addr is
//     empty and SMS when sms.url is empty. A test harness reads it with
//     fx.Populate(&outbox).
//
// Its store is private to the module: PostgreSQL when the graph holds a
// *pgxpool.Pool (optional; the composition root provides it when
// database.url is set), memory otherwise.
package deliveryfx

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/capturesender"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/smsgateway"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/smtp"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/modules/delivery/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/templating"
)

// Module is the delivery module.
var Module = fx.Module("delivery",
	fx.Provide(NewOutbox),
	fx.Provide(fx.Private, newStore),
	fx.Provide(newLanes),
	fx.Provide(fx.Annotate(newCancelHandler, fx.As(new(cqrs.EventHandler)), fx.ResultTags(`group:"event_handlers"`))),
	fx.Provide(fx.Annotate(newRoutes, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`))),
)

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

// newStore returns the PostgreSQL store when there is a pool, else the
// in-memory store.
func newStore(p storeParams) (app.Store, error) {
	if p.Pool == nil {
		return memory.New(), nil
	}
	return postgres.New(p.Pool)
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
}

type lanes struct {
	fx.Out
	Transactional cqrs.CommandHandler `group:"command_handlers"`
	Bulk          cqrs.CommandHandler `group:"command_handlers"`
}

// newLanes builds the handler of each lane, each with its own senders so
// that a mailing never waits for a code's SMTP connection or the reverse.
func newLanes(d deps) (lanes, error) {
	if d.Events == nil || d.Renderer == nil {
		return lanes{}, errors.New("delivery: event bus and renderer are required")
	}
	logger := d.Logger.With("module", "delivery")
	policy := app.RetryPolicy{
		MaxAttempts: d.Config.Delivery.MaxAttempts,
		Backoff:     d.Config.Delivery.Backoff,
		MaxBackoff:  d.Config.Delivery.MaxBackoff,
	}
	build := func(lane string) (*ports.DeliverBatchLane, error) {
		senders, err := newSenders(d.Lifecycle, d.Config, d.Outbox, d.Clock, logger.With("lane", lane))
		if err != nil {
			return nil, err
		}
		h, err := app.NewDeliverBatchHandler(d.Store, d.Renderer, senders, d.Events, d.Clock, policy, logger.With("lane", lane))
		if err != nil {
			return nil, err
		}
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

// newSenders picks each channel's sender from the configuration: SMTP when
// smtp.addr is set, the SMS gateway when sms.url is set, else the capture
// outbox. An SMTP sender closes its connection when the application stops.
func newSenders(lc fx.Lifecycle, cfg config.Config, outbox *capture.Outbox, clk clock.Clock, logger *slog.Logger) (app.Senders, error) {
	captured, err := capturesender.New(outbox, clk)
	if err != nil {
		return nil, err
	}
	senders := app.Senders{domain.ChannelEmail: captured, domain.ChannelSMS: captured}
	emailTo, smsTo := "capture", "capture"
	if cfg.SMTP.Addr != "" {
		s, err := smtp.New(smtp.Config{
			Addr: cfg.SMTP.Addr, From: cfg.SMTP.From, TLS: cfg.SMTP.TLS,
			Username: cfg.SMTP.Username, Password: cfg.SMTP.Password,
		}, logger)
		if err != nil {
			return nil, fmt.Errorf("delivery: %w", err)
		}
		lc.Append(fx.StopHook(s.Close))
		senders[domain.ChannelEmail] = s
		emailTo = "smtp"
	}
	if cfg.SMS.URL != "" {
		s, err := smsgateway.New(smsgateway.Config{URL: cfg.SMS.URL, Timeout: cfg.SMS.Timeout})
		if err != nil {
			return nil, fmt.Errorf("delivery: %w", err)
		}
		senders[domain.ChannelSMS] = s
		smsTo = "gateway"
	}
	logger.Info("delivery channels", "email", emailTo, "sms", smsTo)
	return senders, nil
}

func newCancelHandler(store app.Store, events *cqrs.EventBus, clk clock.Clock, logger *slog.Logger) (*ports.CancelDeliveriesOnPostingCancelled, error) {
	if events == nil {
		return nil, errors.New("delivery: event bus is required")
	}
	h, err := app.NewCancelDeliveriesOnPostingCancelled(store, events, clk, logger.With("module", "delivery"))
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
