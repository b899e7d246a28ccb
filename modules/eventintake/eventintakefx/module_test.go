package eventintakefx_test

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/notifier/notifier/modules/eventintake/eventintakefx"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
)

type contributions struct {
	fx.In
	Raw    []messaging.RawHandler `group:"raw_handlers"`
	Routes []httpapi.Routes       `group:"routes"`
}

// graph returns what the composition root provides to the module.
func graph(t *testing.T, cfg config.Config) fx.Option {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := messaging.New(messaging.Config{}, messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(clock.System{}, time.Hour), logger)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return fx.Options(
		fx.Supply(cfg, logger),
		fx.Provide(func() *cqrs.CommandBus { return m.CommandBus() }),
		fx.Provide(func() message.Publisher { return m.Publisher() }),
	)
}

func defaultConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Default()
	require.NoError(t, err)
	return cfg
}

func TestModuleContributesTheExchangeHandlerAndTheEventsRoute(t *testing.T) {
	t.Parallel()
	var got contributions
	app := fxtest.New(t, graph(t, defaultConfig(t)), eventintakefx.Module, fx.Populate(&got))
	app.RequireStart().RequireStop()

	require.Len(t, got.Raw, 2, "the exchange's handler of each lane")
	var names []string
	for _, h := range got.Raw {
		names = append(names, h.Name)
		require.Equal(t, "notifier.events", h.Topic)
		require.NotNil(t, h.Key, "events are deduplicated by their event key")
	}
	require.ElementsMatch(t, []string{"eventintake.ConsumeEvents", "eventintake.ConsumeEvents.transactional"}, names)

	require.Len(t, got.Routes, 1)
	_, api := humatest.New(t)
	got.Routes[0].RegisterRoutes(api)
	resp := api.Post("/api/v1/events", map[string]any{"from_service": "auth", "event": "user_signed_up", "details": map[string]any{}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, "the route is registered and validates")
}

func TestModuleConsumesEveryConfiguredExchange(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig(t)
	cfg.AMQP.Exchanges = []string{"notifier.events", "legacy.events"}
	var got contributions
	fxtest.New(t, graph(t, cfg), eventintakefx.Module, fx.Populate(&got)).RequireStart().RequireStop()

	var topics []string
	for _, h := range got.Raw {
		topics = append(topics, h.Topic)
	}
	require.ElementsMatch(t, []string{"notifier.events", "notifier.events", "legacy.events", "legacy.events"}, topics,
		"a handler per lane of each; value groups come in no set order")
	require.Equal(t, []string{"notifier.events", "legacy.events"}, eventintakefx.Exchanges(cfg))
	cfg.AMQP.Exchanges = nil
	require.Equal(t, []string{"notifier.events"}, eventintakefx.Exchanges(cfg))
}

func TestModuleRefusesToStartWithABrokenFlow(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig(t)
	cfg.Intake.Flows = map[string]config.Flow{}
	for k, v := range defaultConfig(t).Intake.Flows {
		cfg.Intake.Flows[k] = v
	}
	welcome := cfg.Intake.Flows["user_signed_up"]
	welcome.Receivers = "http://auth/api/v1/users/"
	cfg.Intake.Flows["user_signed_up"] = welcome

	var got contributions
	app := fx.New(graph(t, cfg), eventintakefx.Module, fx.Populate(&got), fx.NopLogger)
	require.ErrorContains(t, app.Err(), "intake.flows.user_signed_up.receivers")
}
