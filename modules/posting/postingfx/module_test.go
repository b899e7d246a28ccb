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
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/postingfx"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

type contributions struct {
	fx.In
	Commands []cqrs.CommandHandler `group:"command_handlers"`
	Events   []cqrs.EventHandler   `group:"event_handlers"`
	Routes   []httpapi.Routes      `group:"routes"`
}

type harness struct {
	clock   *clock.Fake
	bus     *messaging.Messaging
	api     humatest.TestAPI
	users   []demodirectory.User
	mu      sync.Mutex
	batches []posting.AudienceBatchResolved
}

func (h *harness) received() []posting.AudienceBatchResolved {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]posting.AudienceBatchResolved(nil), h.batches...)
}

// start runs the posting module in an fx app over the in-memory messaging,
// with a page size of 2 and a directory of 5 users.
func start(t *testing.T) *harness {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	h := &harness{clock: clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), users: demodirectory.GenerateUsers(5)}
	var err error
	h.bus, err = messaging.New(messaging.Config{MaxRetries: 2, RetryInterval: time.Millisecond},
		messaging.NewMemoryTransport(nil), messaging.NewMemoryKeyStore(h.clock, time.Hour), logger)
	require.NoError(t, err)
	cfg, err := config.Default()
	require.NoError(t, err)
	cfg.Directory.PageSize = 2
	client, err := upstream.New(upstream.Config{}, logger,
		upstream.WithHandler("auth", demodirectory.NewAuth(&demodirectory.Data{Users: h.users})))
	require.NoError(t, err)
	renderer, err := templating.New(templates.FS)
	require.NoError(t, err)
	_, h.api = humatest.New(t)

	app := fxtest.New(t,
		fx.Supply(cfg, logger, h.bus.CommandBus(), h.bus.EventBus(), client, renderer),
		fx.Provide(func() clock.Clock { return h.clock }),
		postingfx.Module,
		fx.Invoke(func(c contributions) error {
			require.Len(t, c.Commands, 2)
			require.Len(t, c.Events, 1)
			require.Len(t, c.Routes, 1)
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
			return h.bus.AddEventHandler(cqrs.NewEventHandler("test.CollectBatches",
				func(_ context.Context, e *posting.AudienceBatchResolved) error {
					h.mu.Lock()
					defer h.mu.Unlock()
					h.batches = append(h.batches, *e)
					return nil
				}))
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
	return h
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

	require.Eventually(t, func() bool { return len(h.received()) == 3 }, 5*time.Second, time.Millisecond)
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

	require.Eventually(t, func() bool { return h.listByEvent(t, "e-1")[0].Status == "completed" }, 5*time.Second, time.Millisecond)
	require.Equal(t, 5, h.listByEvent(t, "e-1")[0].Counters["sent"])
	require.Len(t, h.received(), 3, "nothing published again")
}

func TestScheduledPostingStartsWhenTheClockReachesItsSendAt(t *testing.T) {
	h := start(t)
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

	require.Eventually(t, func() bool { return len(h.received()) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, posting.PriorityTransactional, h.received()[0].Priority)
	require.Equal(t, "dispatching", h.listByEvent(t, "e-2")[0].Status)
}
