package postingfx_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/postingfx"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/pgtransport"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

// patience bounds every wait: the outbox forwards what a unit of work sent
// about a second after its commit, and a walk takes several hops.
const patience = 30 * time.Second

type contributions struct {
	fx.In
	Commands []cqrs.CommandHandler `group:"command_handlers"`
	Events   []cqrs.EventHandler   `group:"event_handlers"`
	Routes   []httpapi.Routes      `group:"routes"`
	Sweepers []db.Sweeper          `group:"sweepers"`
}

type harness struct {
	clock   *clock.Fake
	bus     *messaging.Messaging
	api     humatest.TestAPI
	users   []demodirectory.User
	mu      sync.Mutex
	batches []posting.AudienceBatchResolved

	// sweepers are what the module contributes to the janitor.
	sweepers []db.Sweeper
}

func (h *harness) received() []posting.AudienceBatchResolved {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]posting.AudienceBatchResolved(nil), h.batches...)
}

// start runs the posting module in an fx app over the in-memory messaging,
// with a page size of 2 and a directory of 5 users, keeping postings in
// memory.
func start(t *testing.T) *harness {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	h := newHarness()
	var err error
	h.bus, err = messaging.New(messaging.Config{MaxRetries: 2, RetryInterval: time.Millisecond},
		messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(h.clock, time.Hour), logger)
	require.NoError(t, err)
	h.run(t, logger, fx.Provide(func() db.TxRunner { return db.NoTx{} }))
	return h
}

// startOnPostgres is start with postings in PostgreSQL, as in production:
// every handler runs in a unit of work, and what the use cases send goes
// through an outbox to the in-memory messaging once committed.
func startOnPostgres(t *testing.T) (*harness, *pgxpool.Pool) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	pool := testenv.Postgres(t)
	h := newHarness()
	memory := messaging.NewMemoryTransport(nil)
	outbox, err := pgtransport.NewOutbox(pool, memory.Publisher(), 10*time.Millisecond, nil)
	require.NoError(t, err)
	h.bus, err = messaging.New(messaging.Config{
		MaxRetries: 2, RetryInterval: time.Millisecond, UnitOfWork: messaging.UnitOfWork(pool),
	}, outboxTransport{MemoryTransport: memory, outbox: outbox}, messaging.NewPostgresKeyStore(pool, time.Hour), logger)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = outbox.Run(ctx) }()
	t.Cleanup(func() { cancel(); _ = outbox.Stop(); <-done })
	select {
	case <-outbox.Running():
	case <-time.After(5 * time.Second):
		t.Fatal("outbox did not start")
	}
	h.run(t, logger, fx.Supply(pool), fx.Provide(func() db.TxRunner { return db.PoolRunner{Pool: pool} }))
	return h, pool
}

// outboxTransport publishes through the outbox.
type outboxTransport struct {
	*messaging.MemoryTransport
	outbox *pgtransport.Outbox
}

func (t outboxTransport) Publisher() message.Publisher { return t.outbox }

func newHarness() *harness {
	return &harness{clock: clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), users: demodirectory.GenerateUsers(5)}
}

// run starts the module with state (the store's pool, if any, and the
// db.TxRunner) and the router.
func (h *harness) run(t *testing.T, logger *slog.Logger, state ...fx.Option) {
	t.Helper()
	cfg, err := config.Default()
	require.NoError(t, err)
	cfg.Directory.PageSize = 2
	client, err := upstream.New(upstream.Config{}, logger,
		upstream.WithHandler("auth", demodirectory.NewAuth(&demodirectory.Data{Users: h.users})))
	require.NoError(t, err)
	renderer, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	_, h.api = humatest.New(t)

	app := fxtest.New(t,
		fx.Supply(cfg, logger, h.bus.CommandBus(), h.bus.EventBus(), client, renderer),
		fx.Provide(func() clock.Clock { return h.clock }),
		fx.Options(state...),
		postingfx.Module,
		fx.Invoke(func(c contributions) error {
			require.ElementsMatch(t, []string{
				"posting.CreatePosting", "posting.CreatePosting.transactional",
				"posting.ExpandAudience", "posting.ExpandAudience.transactional",
			}, handlerNames(c.Commands), "each command handler once per lane")
			require.ElementsMatch(t, []string{
				"posting.ApplyOutcomesOnDeliveryOutcomes", "posting.ApplyOutcomesOnDeliveryOutcomes.transactional",
			}, handlerNames(c.Events))
			require.Len(t, c.Routes, 1)
			h.sweepers = c.Sweepers
			for _, r := range c.Routes {
				r.RegisterRoutes(h.api)
			}
			for _, ch := range c.Commands {
				if err := h.bus.AddCommandHandler(ch); err != nil {
					return err
				}
			}
			for _, eh := range c.Events {
				if err := h.bus.AddEventHandler(eh); err != nil {
					return err
				}
			}
			// Batches travel on their posting's lane: collect both.
			for _, eh := range messaging.EventHandlerOnLanes(cqrs.NewEventHandler("test.CollectBatches",
				func(_ context.Context, e *posting.AudienceBatchResolved) error {
					h.mu.Lock()
					defer h.mu.Unlock()
					h.batches = append(h.batches, *e)
					return nil
				})) {
				if err := h.bus.AddEventHandler(eh); err != nil {
					return err
				}
			}
			return nil
		}),
	)
	app.RequireStart()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.bus.Run(ctx) }()
	t.Cleanup(func() {
		app.RequireStop()
		cancel()
		<-done
		_ = h.bus.Close()
	})
	select {
	case <-h.bus.Running():
	case <-time.After(5 * time.Second):
		t.Fatal("router did not start")
	}
}

type resource struct {
	ID       string         `json:"id"`
	Status   string         `json:"status"`
	Counters map[string]int `json:"counters"`
}

func (h *harness) listByEvent(t *testing.T, event string) []resource {
	t.Helper()
	resp := h.api.Get("/api/v1/postings?from_event=" + event)
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	var page struct {
		Items []resource `json:"items"`
	}
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &page))
	return page.Items
}

func TestMailingCommandIsWalkedDeliveredAndCompletedThroughTheBus(t *testing.T) {
	h := start(t)
	mailingIsWalkedDeliveredAndCompleted(t, h)
}

func TestMailingOnPostgresIsWalkedDeliveredAndCompletedThroughTheBus(t *testing.T) {
	h, pool := startOnPostgres(t)
	id := mailingIsWalkedDeliveredAndCompleted(t, h)

	var status string
	var sent, nextPage int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT status, sent, next_page FROM postings WHERE id = $1`, id).Scan(&status, &sent, &nextPage))
	require.Equal(t, []any{"completed", 5, 4}, []any{status, sent, nextPage}, "the posting lives in PostgreSQL")
}

// mailingIsWalkedDeliveredAndCompleted sends a mailing command twice, walks
// its 5 users in 3 pages, reports them sent and returns the posting's id.
func mailingIsWalkedDeliveredAndCompleted(t *testing.T, h *harness) string {
	t.Helper()
	ctx := context.Background()
	cmd := posting.CreatePosting{
		IdempotencyKey: "event:e-1:new_movies",
		FromEvent:      "e-1",
		FromService:    "cinema_scanner",
		Receivers:      "http://auth/api/v1/users/?is_active=True&email_notifications=True&page_number=1&page_size=500",
		Template:       "email/new_movies.md",
		DeliveryType:   []string{posting.ChannelEmail},
	}
	require.NoError(t, h.bus.CommandBus().Send(ctx, cmd))
	require.NoError(t, h.bus.CommandBus().Send(ctx, cmd)) // a duplicate from the intake

	require.Eventually(t, func() bool { return len(h.received()) == 3 }, patience, 5*time.Millisecond)
	seen := map[string]bool{}
	for _, b := range h.received() {
		for _, r := range b.Recipients {
			require.False(t, seen[r.UserID], "user %s published twice", r.UserID)
			seen[r.UserID] = true
		}
	}
	require.Len(t, seen, 5)
	items := h.listByEvent(t, "e-1")
	require.Len(t, items, 1, "the duplicate made no second posting")
	require.Equal(t, "dispatching", items[0].Status)

	outcomes := delivery.DeliveryOutcomes{PostingID: items[0].ID}
	for _, u := range h.users {
		outcomes.Outcomes = append(outcomes.Outcomes, delivery.Outcome{UserID: u.ID, Channel: "email", Status: delivery.StatusSent, At: h.clock.Now()})
	}
	require.NoError(t, h.bus.EventBus().Publish(ctx, outcomes))

	require.Eventually(t, func() bool { return h.listByEvent(t, "e-1")[0].Status == "completed" }, patience, 5*time.Millisecond)
	require.Equal(t, 5, h.listByEvent(t, "e-1")[0].Counters["sent"])
	require.Len(t, h.received(), 3, "nothing published again")
	return items[0].ID
}

func TestScheduledPostingStartsWhenTheClockReachesItsSendAt(t *testing.T) {
	scheduledPostingStarts(t, start(t))
}

// scheduledPostingStarts creates a posting for an hour later over HTTP and
// moves the clock an hour on.
func scheduledPostingStarts(t *testing.T, h *harness) {
	t.Helper()
	body := map[string]any{
		"from_event":    "e-2",
		"receivers":     "http://auth/api/v1/users/?id=" + h.users[0].ID,
		"template":      "email/welcome.md",
		"delivery_type": []string{"email"},
		"send_at":       h.clock.Now().Add(time.Hour).Format(time.RFC3339),
	}
	resp := h.api.Post("/api/v1/postings", body)
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	require.Equal(t, "scheduled", h.listByEvent(t, "e-2")[0].Status)

	h.clock.Advance(time.Hour)

	require.Eventually(t, func() bool { return len(h.received()) == 1 }, patience, 5*time.Millisecond)
	require.Equal(t, posting.PriorityTransactional, h.received()[0].Priority)
	require.Equal(t, "dispatching", h.listByEvent(t, "e-2")[0].Status)
}

func TestScheduledPostingOnPostgresStartsWhenTheClockReachesItsSendAt(t *testing.T) {
	h, _ := startOnPostgres(t)
	scheduledPostingStarts(t, h)
}

func TestTheJanitorForgetsExpiredPostingKeysAndTheKeyMakesANewPosting(t *testing.T) {
	for name, begin := range map[string]func(t *testing.T) *harness{
		"memory":   start,
		"postgres": func(t *testing.T) *harness { h, _ := startOnPostgres(t); return h },
	} {
		t.Run(name, func(t *testing.T) {
			h := begin(t)
			require.Len(t, h.sweepers, 1)
			body := map[string]any{
				"from_event":    "e-3",
				"receivers":     "http://auth/api/v1/users/?id=" + h.users[0].ID,
				"template":      "email/welcome.md",
				"delivery_type": []string{"email"},
			}
			first := h.api.Post("/api/v1/postings", "Idempotency-Key: welcome-1", body)
			require.Equal(t, http.StatusCreated, first.Code, first.Body.String())
			ctx := context.Background()
			n, err := h.sweepers[0].Sweep(ctx)
			require.NoError(t, err)
			require.Zero(t, n, "the key is held")

			h.clock.Advance(24 * time.Hour) // posting.idempotency_retention in configs/default.yaml
			n, err = h.sweepers[0].Sweep(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
			again := h.api.Post("/api/v1/postings", "Idempotency-Key: welcome-1", body)
			require.Equal(t, http.StatusCreated, again.Code, again.Body.String())
			require.Len(t, h.listByEvent(t, "e-3"), 2, "the first posting stays")
		})
	}
}

func handlerNames[H interface{ HandlerName() string }](hs []H) []string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.HandlerName()
	}
	return names
}
