// Package eventintakefx wires the event intake into an fx application.
package eventintakefx

import (
	"errors"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/fx"

	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/modules/eventintake/internal/ports"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
)

// Module is the event intake. It needs config.Config, *cqrs.CommandBus,
// message.Publisher and *slog.Logger, and contributes one
// messaging.RawHandler per intake exchange to the "raw_handlers" group and
// the POST /api/v1/events route to the "routes" group.
var Module = fx.Module("eventintake",
	fx.Provide(
		fx.Private,
		newConsumeEvent,
		newAcceptEvent,
	),
	fx.Provide(
		fx.Annotate(newRawHandlers, fx.ResultTags(`group:"raw_handlers,flatten"`)),
		fx.Annotate(newHTTP, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`)),
	),
)

// Exchanges returns the exchanges (in memory, the topics) the intake
// consumes: amqp.exchanges, or eventintake.Exchange when none is set.
func Exchanges(cfg config.Config) []string {
	if len(cfg.AMQP.Exchanges) == 0 {
		return []string{eventintake.Exchange}
	}
	return cfg.AMQP.Exchanges
}

func newConsumeEvent(cfg config.Config, commands *cqrs.CommandBus, logger *slog.Logger) (*app.ConsumeEvent, error) {
	if commands == nil || logger == nil {
		return nil, errors.New("eventintake: nil command bus or logger")
	}
	handlers, err := app.NewEventHandlers(cfg.Intake.Flows, commands)
	if err != nil {
		return nil, err
	}
	return app.NewConsumeEvent(logger.With("module", "eventintake"), cfg.Intake.MaxBody, handlers...)
}

func newAcceptEvent(cfg config.Config, publisher message.Publisher) (*app.AcceptEvent, error) {
	return app.NewAcceptEvent(publisher, Exchanges(cfg)[0], cfg.Intake.MaxBody)
}

func newRawHandlers(cfg config.Config, consume *app.ConsumeEvent) ([]messaging.RawHandler, error) {
	return ports.RawHandlers(Exchanges(cfg), consume)
}

func newHTTP(accept *app.AcceptEvent, logger *slog.Logger) (*ports.HTTP, error) {
	if logger == nil {
		return nil, errors.New("eventintake: nil logger")
	}
	return ports.NewHTTP(accept, logger.With("module", "eventintake"))
}
