package deliveryfx_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/modules/delivery/deliveryfx"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
	platformmetrics "github.com/notifier/notifier/platform/metrics"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

// outcomes collects the DeliveryOutcomes the module publishes.
type outcomes struct {
	mu  sync.Mutex
	got []delivery.Outcome
}

func (o *outcomes) add(ev *delivery.DeliveryOutcomes) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, ev.Outcomes...)
}

func (o *outcomes) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.got)
}

func (o *outcomes) statuses() map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]string{}
	for _, x := range o.got {
		out[x.UserID+"/"+x.Channel] = x.Status
	}
	return out
}

type groups struct {
	fx.In
	Commands []cqrs.CommandHandler `group:"command_handlers"`
	Events   []cqrs.EventHandler   `group:"event_handlers"`
	Routes   []httpapi.Routes      `group:"routes"`
}

// system starts the delivery module on in-memory messaging, as the
// composition root does, and returns its command bus, outbox, outcomes and
// handler groups.
type system struct {
	commands *cqrs.CommandBus
	events   *cqrs.EventBus
	outbox   *capture.Outbox
	outcomes *outcomes
	groups   groups
}

// start starts the module with cfg and opts (such as fx.Supply(pool) for
// the PostgreSQL store).
func start(t *testing.T, cfg config.Config, opts ...fx.Option) *system {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	m, err := messaging.New(messaging.Config{MaxRetries: 1, RetryInterval: time.Millisecond},
		messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(clock.System{}, time.Hour), logger)
	require.NoError(t, err)
	renderer, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)

	s := &system{commands: m.CommandBus(), events: m.EventBus(), outcomes: &outcomes{}}
	app := fxtest.New(t,
		fx.Supply(cfg, logger, fx.Annotate(clock.System{}, fx.As(new(clock.Clock))), m.EventBus(), renderer),
		fx.Options(opts...),
		deliveryfx.Module,
		fx.Populate(&s.outbox, &s.groups),
		fx.Invoke(func(lc fx.Lifecycle) error {
			for _, h := range s.groups.Commands {
				if err := m.AddCommandHandler(h); err != nil {
					return err
				}
			}
			for _, h := range s.groups.Events {
				if err := m.AddEventHandler(h); err != nil {
					return err
				}
			}
			// Outcomes travel on their lane: collect both.
			for _, h := range messaging.EventHandlerOnLanes(cqrs.NewEventHandler("test.CollectOutcomes",
				func(_ context.Context, ev *delivery.DeliveryOutcomes) error {
					s.outcomes.add(ev)
					return nil
				})) {
				if err := m.AddEventHandler(h); err != nil {
					return err
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			lc.Append(fx.Hook{
				OnStart: func(startCtx context.Context) error {
					go func() { defer close(done); _ = m.Run(ctx) }()
					select {
					case <-m.Running():
						return nil
					case <-startCtx.Done():
						return startCtx.Err()
					}
				},
				OnStop: func(context.Context) error { cancel(); <-done; return m.Close() },
			})
			return nil
		}),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return s
}

func defaults(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Default()
	require.NoError(t, err)
	return cfg
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestBothLanesDeliverIntoTheCaptureOutboxAndReportOutcomes(t *testing.T) {
	t.Parallel()
	bothLanesDeliverAndReport(t, start(t, defaults(t)))
}

// TestWithAPoolDeliveriesAreKeptInPostgreSQL runs the lanes on the
// PostgreSQL store (a pool in the graph) and in-memory messaging: each row
// is recorded, final and marked reported.
func TestWithAPoolDeliveriesAreKeptInPostgreSQL(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	bothLanesDeliverAndReport(t, start(t, defaults(t), fx.Supply(pool)))

	// The outcomes went out inside the report's transaction (the outbox's
	// job in production): its commit may follow their arrival here.
	require.Eventually(t, func() bool {
		return maps.Equal(map[string]bool{"code-1/u1/sent": true, "mailing-1/u2/sent": true, "mailing-1/u3/skipped": true}, storedRows(t, pool))
	}, 10*time.Second, time.Millisecond, "every row final and marked reported")
}

// storedRows returns "posting/user/status" → reported of every row.
func storedRows(t *testing.T, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT posting_id || '/' || user_id || '/' || status, reported FROM deliveries`)
	require.NoError(t, err)
	got := map[string]bool{}
	for rows.Next() {
		var row string
		var reported bool
		require.NoError(t, rows.Scan(&row, &reported))
		got[row] = reported
	}
	require.NoError(t, rows.Err())
	return got
}

func bothLanesDeliverAndReport(t *testing.T, s *system) {
	t.Helper()
	ctx := waitCtx(t)
	require.Len(t, s.groups.Commands, 2)
	require.Len(t, s.groups.Events, 1)
	require.Len(t, s.groups.Routes, 5, "a posting's deliveries and templates; a user's deliveries; their digests; the suppression list; the inboxes")

	expires := time.Now().Add(2 * time.Minute)
	require.NoError(t, s.commands.Send(ctx, &delivery.DeliverBatch{
		PostingID: "code-1", Lane: delivery.LaneTransactional, NotificationType: posting.TypePhoneConfirmation,
		Template: "sms/phone_confirmation.md", TemplateContext: map[string]any{"secret_code": "1234"}, ExpiresAt: &expires,
		Items: []delivery.Item{{Channel: "sms", Recipient: delivery.Recipient{UserID: "u1", Phone: "+79001234567"}}},
	}))
	require.NoError(t, s.commands.Send(ctx, &delivery.DeliverBatch{
		PostingID: "mailing-1", Lane: delivery.LaneBulk, NotificationType: posting.TypeNewMovies,
		Template: "email/new_movies.md", TemplateContext: map[string]any{"movies": []any{map[string]any{"title": "Брат"}}},
		Items:   []delivery.Item{{Channel: "email", Recipient: delivery.Recipient{UserID: "u2", Email: "olga@example.com", FirstName: "Ольга"}}},
		Skipped: []delivery.SkippedItem{{UserID: "u3", Channel: "email", Reason: "opted out"}},
	}))

	msgs, err := s.outbox.Wait(ctx, 2)
	require.NoError(t, err)
	require.Len(t, s.outbox.ByChannel("sms"), 1)
	require.Equal(t, "Код подтверждения: 1234. Никому не сообщайте его.", s.outbox.ByChannel("sms")[0].Text)
	email := s.outbox.ByChannel("email")
	require.Len(t, email, 1)
	require.Equal(t, "Новый фильм в каталоге: Брат", email[0].Subject)
	require.Contains(t, email[0].Text, "Здравствуйте, Ольга!")
	require.Len(t, msgs, 2)

	require.Eventually(t, func() bool { return len(s.outcomes.statuses()) == 3 }, 10*time.Second, time.Millisecond)
	require.Equal(t, map[string]string{"u1/sms": "sent", "u2/email": "sent", "u3/email": "skipped"}, s.outcomes.statuses())
	require.Equal(t, 3, s.outcomes.count(), "each outcome reported once")
}

// Each lane looks the suppression list up on its own connections: here the
// transactional lane's pool is on another schema than the bulk lane's, and
// only that schema lists the address.
func TestEachLaneChecksTheSuppressionListOnItsOwnPool(t *testing.T) {
	t.Parallel()
	bulk, transactional := testenv.Postgres(t), testenv.Postgres(t)
	testenv.MustExec(t, transactional, `INSERT INTO delivery_suppressions (channel, address, reason, source, created_at)
		VALUES ('email', 'olga@example.com', 'bounce', 'api', now())`)
	s := start(t, defaults(t), fx.Supply(bulk, db.Pools{Bulk: bulk, Transactional: transactional}))
	ctx := waitCtx(t)
	olga := []delivery.Item{{Channel: "email", Recipient: delivery.Recipient{UserID: "u1", Email: " Olga@Example.com", FirstName: "Ольга"}}}

	require.NoError(t, s.commands.Send(ctx, &delivery.DeliverBatch{
		PostingID: "confirm-1", Lane: delivery.LaneTransactional, NotificationType: posting.TypeEmailConfirmation,
		Template: "email/email_confirmation.md", TemplateContext: map[string]any{"confirmation_link": "http://auth/x"}, Items: olga,
	}))
	require.NoError(t, s.commands.Send(ctx, &delivery.DeliverBatch{
		PostingID: "mailing-3", Lane: delivery.LaneBulk, NotificationType: posting.TypeNewMovies,
		Template: "email/new_movies.md", TemplateContext: map[string]any{"movies": []any{}}, Items: olga,
	}))
	require.Eventually(t, func() bool { return s.outcomes.count() == 2 }, 10*time.Second, time.Millisecond)
	var reasons []string
	s.outcomes.mu.Lock()
	for _, o := range s.outcomes.got {
		reasons = append(reasons, o.Status+":"+o.Error)
	}
	s.outcomes.mu.Unlock()
	require.ElementsMatch(t, []string{"skipped:suppressed", "sent:"}, reasons)
	require.Len(t, s.outbox.Messages(), 1, "only the mailing, whose lane's schema does not list the address")
	require.Equal(t, "Olga@Example.com", s.outbox.Messages()[0].To)
}

func TestTheModulesMetricsGoToTheApplicationsRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	bothLanesDeliverAndReport(t, start(t, defaults(t), fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer))))))

	series := platformmetrics.Series
	want := map[string]float64{
		series("notifier_deliveries_total", "channel", "sms", "lane", "transactional", "result", "sent"): 1,
		series("notifier_deliveries_total", "channel", "email", "lane", "bulk", "result", "sent"):        1,
		series("notifier_deliveries_total", "channel", "email", "lane", "bulk", "result", "skipped"):     1,
		series("notifier_delivery_attempt_duration_seconds_count", "channel", "sms"):                     1,
		series("notifier_delivery_attempt_duration_seconds_count", "channel", "email"):                   1,
	}
	require.Eventually(t, func() bool {
		v, err := platformmetrics.Gather(reg)
		require.NoError(t, err)
		for s, n := range want {
			if v[s] != n {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond, "each batch counted once its report stands")
}

func TestCancelledPostingIsNotDeliveredAndItsDeliveriesAreListed(t *testing.T) {
	t.Parallel()
	cancelledPostingIsNotDelivered(t, start(t, defaults(t)))
}

func TestWithAPoolACancelledPostingIsNotDelivered(t *testing.T) {
	t.Parallel()
	cancelledPostingIsNotDelivered(t, start(t, defaults(t), fx.Supply(testenv.Postgres(t))))
}

func cancelledPostingIsNotDelivered(t *testing.T, s *system) {
	t.Helper()
	ctx := waitCtx(t)

	require.NoError(t, s.events.Publish(ctx, &posting.PostingCancelled{PostingID: "mailing-2", CancelledAt: time.Now()}))
	batch := func(user string) *delivery.DeliverBatch {
		return &delivery.DeliverBatch{
			PostingID: "mailing-2", Lane: delivery.LaneBulk, Template: "email/new_movies.md",
			Items: []delivery.Item{{Channel: "email", Recipient: delivery.Recipient{UserID: user, Email: user + "@example.com"}}},
		}
	}
	// The cancellation runs on its own handler, concurrently with the lane:
	// wait until it has been processed (a batch is recorded cancelled).
	n := 0
	require.Eventually(t, func() bool {
		n++
		_ = s.commands.Send(ctx, batch(fmt.Sprintf("probe%03d", n)))
		return slices.Contains(slices.Collect(maps.Values(s.outcomes.statuses())), delivery.StatusCancelled)
	}, 10*time.Second, 10*time.Millisecond)
	s.outbox.Reset()

	require.NoError(t, s.commands.Send(ctx, batch("late")))
	// Batches run concurrently: wait for the late one and every probe.
	require.Eventually(t, func() bool { return len(s.outcomes.statuses()) == n+1 }, 10*time.Second, time.Millisecond)
	require.Equal(t, delivery.StatusCancelled, s.outcomes.statuses()["late/email"])
	require.Empty(t, s.outbox.Messages(), "nothing of a cancelled posting is sent")

	_, api := humatest.New(t)
	for _, r := range s.groups.Routes {
		r.RegisterRoutes(api)
	}
	resp := api.Get("/api/v1/postings/mailing-2/deliveries")
	require.Equal(t, http.StatusOK, resp.Code)
	var page struct {
		Items []struct {
			UserID string `json:"user_id"`
			Status string `json:"status"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &page))
	statuses := map[string]string{}
	for _, it := range page.Items {
		statuses[it.UserID] = it.Status
	}
	require.Equal(t, delivery.StatusCancelled, statuses["late"])
	require.Len(t, page.Items, n+1, "every batch recorded")
}

func TestSMSGoesToTheGatewayWhenItsURLIsSet(t *testing.T) {
	t.Parallel()
	got := make(chan map[string]string, 1)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- body
	}))
	t.Cleanup(gw.Close)
	cfg := defaults(t)
	cfg.SMS.URL = gw.URL
	s := start(t, cfg)
	ctx := waitCtx(t)

	require.NoError(t, s.commands.Send(ctx, &delivery.DeliverBatch{
		PostingID: "code-2", Lane: delivery.LaneTransactional, Template: "sms/phone_confirmation.md",
		TemplateContext: map[string]any{"secret_code": "9876"},
		Items:           []delivery.Item{{Channel: "sms", Recipient: delivery.Recipient{UserID: "u1", Phone: "+79001234567"}}},
	}))
	select {
	case body := <-got:
		require.Equal(t, "+79001234567", body["to"])
		require.Contains(t, body["text"], "9876")
		require.NotEmpty(t, body["idempotency_key"])
	case <-ctx.Done():
		t.Fatal("the gateway got nothing")
	}
	require.Eventually(t, func() bool { return s.outcomes.statuses()["u1/sms"] == delivery.StatusSent }, 10*time.Second, time.Millisecond)
	require.Empty(t, s.outbox.Messages(), "nothing captured")
}

func TestEachBulkWorkerKeepsOneSMTPConnectionFromBatchToBatch(t *testing.T) {
	t.Parallel()
	sink := testenv.StartSMTPSink(t)
	cfg := defaults(t)
	cfg.SMTP.Addr, cfg.SMTP.TLS = sink.Addr(), "none"
	cfg.Delivery.Workers = map[string]int{delivery.LaneTransactional: 1, delivery.LaneBulk: 3}
	s := start(t, cfg)
	ctx := waitCtx(t)

	for b := range 2 {
		batch := &delivery.DeliverBatch{
			PostingID: fmt.Sprintf("mailing-%d", b), Lane: delivery.LaneBulk, Template: "email/new_movies.md",
			TemplateContext: map[string]any{"movies": []any{map[string]any{"title": "Брат"}}},
		}
		for i := range 30 {
			user := fmt.Sprintf("u%d-%02d", b, i)
			batch.Items = append(batch.Items, delivery.Item{Channel: "email", Recipient: delivery.Recipient{UserID: user, Email: user + "@example.com"}})
		}
		require.NoError(t, s.commands.Send(ctx, batch))
		require.Eventually(t, func() bool { return s.outcomes.count() == 30*(b+1) }, 10*time.Second, time.Millisecond)
	}
	require.Equal(t, 60, sink.Count())
	require.LessOrEqual(t, sink.Connections(), 3, "one connection per bulk worker, kept between messages and batches")
}

func TestTheBulkWorkersShareTheLanesSMTPConnections(t *testing.T) {
	t.Parallel()
	sink := testenv.StartSMTPSink(t)
	cfg := defaults(t)
	cfg.SMTP.Addr, cfg.SMTP.TLS = sink.Addr(), "none"
	cfg.Delivery.Workers = map[string]int{delivery.LaneTransactional: 1, delivery.LaneBulk: 6}
	cfg.Delivery.Connections = map[string]int{delivery.LaneTransactional: 5, delivery.LaneBulk: 2}
	s := start(t, cfg)
	ctx := waitCtx(t)

	batch := &delivery.DeliverBatch{
		PostingID: "mailing", Lane: delivery.LaneBulk, Template: "email/new_movies.md",
		TemplateContext: map[string]any{"movies": []any{map[string]any{"title": "Брат"}}},
	}
	for i := range 60 {
		user := fmt.Sprintf("u%02d", i)
		batch.Items = append(batch.Items, delivery.Item{Channel: "email", Recipient: delivery.Recipient{UserID: user, Email: user + "@example.com"}})
	}
	require.NoError(t, s.commands.Send(ctx, batch))
	require.Eventually(t, func() bool { return s.outcomes.count() == 60 }, 10*time.Second, time.Millisecond)
	require.Equal(t, 60, sink.Count())
	require.LessOrEqual(t, sink.Connections(), 2, "six workers, two connections")
}

func TestBadDeliverySettingsStopTheStartNamingEachKey(t *testing.T) {
	t.Parallel()
	cfg := defaults(t)
	cfg.Delivery.Workers = map[string]int{delivery.LaneBulk: 0, "express": 1}
	cfg.Delivery.RateLimits = map[string]float64{"fax": 1, "sms": -1, "inapp": 1, "webhook": 2}
	cfg.Delivery.Connections = map[string]int{delivery.LaneTransactional: 0, "fax": 1}
	err := startErr(t, cfg)
	for _, key := range []string{
		"delivery.workers.bulk: 0", "delivery.workers.express: unknown lane", "delivery.workers.transactional: missing",
		"delivery.connections.transactional: 0", "delivery.connections.fax: unknown lane",
		"delivery.rate_limits.fax: unknown channel", "delivery.rate_limits.sms: -1 is negative",
		"delivery.rate_limits.inapp: unknown channel (email, sms, webhook; the inbox has no limit)",
	} {
		require.ErrorContains(t, err, key)
	}
	require.NotContains(t, err.Error(), "rate_limits.webhook", "the webhook channel may be limited")

	cfg = defaults(t)
	cfg.Delivery.MaxWaitingRetries = 5
	require.ErrorContains(t, startErr(t, cfg), "delivery.max_waiting_retries: 5 is below delivery.workers.bulk (30)")
}

// startErr builds the module with cfg and returns why it could not.
func startErr(t *testing.T, cfg config.Config) error {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	m, err := messaging.New(messaging.Config{MaxRetries: 1, RetryInterval: time.Millisecond},
		messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(clock.System{}, time.Hour), logger)
	require.NoError(t, err)
	renderer, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	app := fx.New(fx.NopLogger,
		fx.Supply(cfg, logger, fx.Annotate(clock.System{}, fx.As(new(clock.Clock))), m.EventBus(), renderer),
		deliveryfx.Module,
		fx.Invoke(func(groups) {}),
	)
	require.Error(t, app.Err())
	return app.Err()
}
