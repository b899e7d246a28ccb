package preferencesfx_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/preferences/preferencesfx"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/unsubscribe"
)

// TestModuleFiltersABatchByPreferencesSetOverHTTP wires the module the way
// the composition root does, on the in-memory transport and the in-memory
// store: a user opts out over HTTP, then an audience batch comes in and the
// DeliverBatch sent on the bulk lane skips that user.
func TestModuleFiltersABatchByPreferencesSetOverHTTP(t *testing.T) {
	t.Parallel()
	filtersABatchByPreferencesSetOverHTTP(t, nil)
}

// TestModuleKeepsPreferencesInPostgreSQLWhenGivenAPool runs the same story
// with a *pgxpool.Pool in the graph: the opt-out is stored in PostgreSQL.
func TestModuleKeepsPreferencesInPostgreSQLWhenGivenAPool(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	filtersABatchByPreferencesSetOverHTTP(t, pool)

	var types map[string]bool
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT types FROM user_preferences WHERE user_id = 'bob'`).Scan(&types))
	assert.Equal(t, map[string]bool{"new_movies": false}, types)
}

func filtersABatchByPreferencesSetOverHTTP(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	cfg, err := config.Default()
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	clk := clock.NewFake(time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
	transport := messaging.NewMemoryTransport(nil)
	msg, err := messaging.New(messaging.Config{RetryInterval: time.Millisecond}, transport,
		messaging.NewMemoryKeyStore(clk, time.Hour), logger)
	require.NoError(t, err)

	_, api := humatest.New(t, huma.DefaultConfig("Notifier API", "test"))
	withPool := fx.Options()
	if pool != nil {
		withPool = fx.Supply(pool)
	}
	app := fxtest.New(t,
		fx.Supply(cfg, logger, msg.CommandBus()),
		withPool,
		fx.Provide(func() clock.Clock { return clk }, testLinks),
		preferencesfx.Module,
		fx.Invoke(fx.Annotate(func(handlers []cqrs.EventHandler, routes []httpapi.Routes) error {
			require.Len(t, handlers, 2, "one filter per lane")
			assert.ElementsMatch(t, []string{
				"preferences.FilterAudienceOnAudienceBatchResolved", "preferences.FilterAudienceOnAudienceBatchResolved.transactional",
			}, []string{handlers[0].HandlerName(), handlers[1].HandlerName()}, "value groups come in no set order")
			require.Len(t, routes, 2, "preferences and unsubscribe")
			for _, r := range routes {
				r.RegisterRoutes(api)
			}
			for _, h := range handlers {
				if err := msg.AddEventHandler(h); err != nil {
					return err
				}
			}
			return nil
		}, fx.ParamTags(`group:"event_handlers"`, `group:"routes"`))),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)

	sub, err := transport.Subscriber("test")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	batches, err := sub.Subscribe(ctx, messaging.CommandTopic(delivery.DeliverBatch{}.Name(), delivery.LaneBulk))
	require.NoError(t, err)

	done := make(chan struct{})
	go func() { defer close(done); _ = msg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = msg.Close() })
	select {
	case <-msg.Running():
	case <-time.After(5 * time.Second):
		t.Fatal("router did not start")
	}

	resp := api.Put("/api/v1/users/bob/preferences", map[string]any{"types": map[string]any{"new_movies": false}})
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())

	require.NoError(t, msg.EventBus().Publish(ctx, &posting.AudienceBatchResolved{
		PostingID:        "p-1",
		BatchNo:          1,
		NotificationType: posting.TypeNewMovies,
		Priority:         posting.PriorityBulk,
		Channels:         []string{posting.ChannelEmail},
		Template:         "email/new_movies.md",
		Recipients: []posting.Recipient{
			{UserID: "ann", Email: "ann@example.com"},
			{UserID: "bob", Email: "bob@example.com"},
		},
	}))

	var got delivery.DeliverBatch
	select {
	case m := <-batches:
		m.Ack()
		require.NoError(t, json.Unmarshal(m.Payload, &got))
	case <-time.After(5 * time.Second):
		t.Fatal("no DeliverBatch on the bulk lane")
	}
	assert.Equal(t, "p-1", got.PostingID)
	require.Len(t, got.Items, 1)
	assert.Equal(t, "ann", got.Items[0].Recipient.UserID)
	assert.Equal(t, []delivery.SkippedItem{{UserID: "bob", Channel: "email", Reason: "opted out: types.new_movies"}}, got.Skipped)
}

func TestModuleRefusesToStartWithBadPreferenceDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Default()
	require.NoError(t, err)
	cfg.Preferences.Channels = map[string]bool{"fax": true}

	app := fx.New(
		fx.NopLogger,
		fx.Supply(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &cqrs.CommandBus{}),
		fx.Provide(func() clock.Clock { return clock.System{} }, testLinks),
		preferencesfx.Module,
		fx.Invoke(fx.Annotate(func([]cqrs.EventHandler) {}, fx.ParamTags(`group:"event_handlers"`))),
	)

	require.Error(t, app.Err())
	assert.Contains(t, app.Err().Error(), "preferences.channels")
}

func testLinks() (*unsubscribe.Links, error) {
	s, err := unsubscribe.New("preferencesfx-test-key-of-32-bytes-or-more")
	if err != nil {
		return nil, err
	}
	return unsubscribe.NewLinks(s, "https://notifier.test")
}
