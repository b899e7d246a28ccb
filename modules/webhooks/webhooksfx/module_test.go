package webhooksfx_test

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/notifier/notifier/modules/webhooks/webhooksfx"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/httpapi"
)

func TestTheModuleStartsInMemoryAndStops(t *testing.T) {
	cfg, err := config.Default()
	require.NoError(t, err)
	var routes []httpapi.Routes
	app := fxtest.New(t,
		fx.Supply(cfg, slog.New(slog.DiscardHandler)),
		fx.Provide(func() clock.Clock { return clock.System{} }),
		webhooksfx.Module,
		fx.Invoke(fx.Annotate(func(r []httpapi.Routes) { routes = r }, fx.ParamTags(`group:"routes"`))),
	)
	app.RequireStart()
	app.RequireStop()
	require.Len(t, routes, 1)
}

func TestValidateNamesEachBadSetting(t *testing.T) {
	cfg, err := config.Default()
	require.NoError(t, err)
	require.NoError(t, webhooksfx.Validate(cfg))

	cfg.Webhooks.AllowedHosts = []string{"https://hooks.example.com"}
	cfg.Webhooks.MaxAge = 0
	cfg.Webhooks.MaxBackoff = cfg.Webhooks.Backoff / 2
	cfg.Webhooks.EndpointConcurrency = cfg.Webhooks.Concurrency + 1
	cfg.Webhooks.RotationGrace = -1
	err = webhooksfx.Validate(cfg)
	require.Error(t, err)
	for _, key := range []string{"webhooks.allowed_hosts", "webhooks.max_age", "webhooks.max_backoff", "webhooks.endpoint_concurrency", "webhooks.rotation_grace"} {
		require.Contains(t, err.Error(), key)
	}
}
