// Package preferencesfx wires the preferences module into an fx
// application: it contributes the audience filter to the "event_handlers"
// group and the preferences HTTP routes to the "routes" group, and keeps
// its store private: PostgreSQL when the graph holds a *pgxpool.Pool,
// memory otherwise.
package preferencesfx

import (
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/notifier/notifier/modules/preferences/internal/adapters/memory"
	"github.com/notifier/notifier/modules/preferences/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/modules/preferences/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/unsubscribe"
)

// Module is the preferences module. It needs config.Config, *slog.Logger,
// clock.Clock, *cqrs.CommandBus and *unsubscribe.Links from the graph, and
// takes an optional *pgxpool.Pool.
var Module = fx.Module("preferences",
	fx.Provide(
		fx.Private,
		newPolicy,
		newStore,
		newGetPreferences,
		newUpdatePreferences,
		newPatchPreferences,
		newUnsubscribe,
	),
	fx.Provide(
		fx.Annotate(newFilterAudienceOnLanes, fx.ResultTags(`group:"event_handlers,flatten"`)),
		fx.Annotate(newRoutes, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`)),
		fx.Annotate(newUnsubscribeRoutes, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`)),
	),
)

// newPolicy builds the policy from the preferences section of the
// configuration; a bad section fails the start, naming the setting.
func newPolicy(cfg config.Config) (*domain.Policy, error) {
	p := cfg.Preferences
	return domain.NewPolicy(domain.Defaults{
		Channels:           p.Channels,
		Types:              p.Types,
		DefaultTypeEnabled: p.DefaultTypeEnabled,
		Mandatory:          p.Mandatory,
		QuietHours:         domain.QuietHours{Start: p.QuietHours.Start, End: p.QuietHours.End},
		DefaultTimezone:    p.DefaultTimezone,
	})
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
		return memory.NewStore(), nil
	}
	return postgres.NewStore(p.Pool)
}

func newGetPreferences(store app.Store, policy *domain.Policy) (*app.GetPreferencesHandler, error) {
	return app.NewGetPreferencesHandler(store, policy)
}

func newUpdatePreferences(store app.Store, policy *domain.Policy, clk clock.Clock) (*app.UpdatePreferencesHandler, error) {
	return app.NewUpdatePreferencesHandler(store, policy, clk)
}

func newPatchPreferences(store app.Store, policy *domain.Policy, clk clock.Clock) (*app.PatchPreferencesHandler, error) {
	return app.NewPatchPreferencesHandler(store, policy, clk)
}

func newUnsubscribe(links *unsubscribe.Links, store app.Store, clk clock.Clock) (*app.UnsubscribeHandler, error) {
	return app.NewUnsubscribeHandler(links, store, clk)
}

func newUnsubscribeRoutes(h *app.UnsubscribeHandler) (*ports.UnsubscribeHTTP, error) {
	return ports.NewUnsubscribeHTTP(h)
}

func newFilterAudience(store app.Store, policy *domain.Policy, commands *cqrs.CommandBus, logger *slog.Logger) (*app.FilterAudienceOnAudienceBatchResolved, error) {
	var sender app.CommandSender
	if commands != nil { // a nil *cqrs.CommandBus must stay a nil interface
		sender = commands
	}
	if logger != nil {
		logger = logger.With("module", "preferences")
	}
	return app.NewFilterAudienceOnAudienceBatchResolved(store, policy, sender, logger)
}

// newFilterAudienceOnLanes gives each lane its own filter
// (messaging.EventHandlerOnLanes), so that a code's batch never waits
// behind a mailing's.
func newFilterAudienceOnLanes(store app.Store, policy *domain.Policy, commands *cqrs.CommandBus, logger *slog.Logger) ([]cqrs.EventHandler, error) {
	h, err := newFilterAudience(store, policy, commands, logger)
	if err != nil {
		return nil, err
	}
	return messaging.EventHandlerOnLanes(h), nil
}

func newRoutes(get *app.GetPreferencesHandler, update *app.UpdatePreferencesHandler, patch *app.PatchPreferencesHandler) (*ports.HTTP, error) {
	return ports.NewHTTP(get, update, patch)
}
