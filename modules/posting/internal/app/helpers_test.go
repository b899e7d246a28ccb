package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/adapters/directory"
	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// recordingBus records what is sent or published; failNext makes the next
// call fail.
type recordingBus struct {
	mu       sync.Mutex
	messages []any
	failNext int
}

func (b *recordingBus) record(v any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failNext > 0 {
		b.failNext--
		return errors.New("broker unavailable")
	}
	b.messages = append(b.messages, v)
	return nil
}

func (b *recordingBus) Send(_ context.Context, cmd any) error      { return b.record(cmd) }
func (b *recordingBus) Publish(_ context.Context, event any) error { return b.record(event) }

func (b *recordingBus) failNextCall() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failNext++
}

func (b *recordingBus) all() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]any(nil), b.messages...)
}

// take removes and returns what was recorded.
func (b *recordingBus) take() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.messages
	b.messages = nil
	return out
}

func (b *recordingBus) expandCommands() []app.ExpandAudience {
	var out []app.ExpandAudience
	for _, m := range b.all() {
		if c, ok := m.(app.ExpandAudience); ok {
			out = append(out, c)
		}
	}
	return out
}

func (b *recordingBus) batches() []posting.AudienceBatchResolved {
	var out []posting.AudienceBatchResolved
	for _, m := range b.all() {
		if e, ok := m.(posting.AudienceBatchResolved); ok {
			out = append(out, e)
		}
	}
	return out
}

// counting counts the requests a handler serves.
type counting struct {
	h http.Handler
	n atomic.Int32
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.h.ServeHTTP(w, r)
}

// world is the posting module's use cases over a memory store, recording
// buses, a fake clock and in-process demo upstreams.
type world struct {
	store    *memory.Store
	commands *recordingBus
	events   *recordingBus
	clock    *clock.Fake
	auth     *counting
	fastapi  *counting

	create   *app.CreatePostingHandler
	expand   *app.ExpandAudienceHandler
	outcomes *app.ApplyDeliveryOutcomesHandler
	cancel   *app.CancelPostingHandler
	sched    *app.Scheduler
}

var (
	movieNew = map[string]any{"id": "m-1", "title": "Дюна: Часть вторая", "new": true}
	movieOld = map[string]any{"id": "m-2", "title": "Сталкер", "new": false}
)

func newWorld(t *testing.T, users []demodirectory.User) *world {
	t.Helper()
	data := &demodirectory.Data{Users: users, Movies: []map[string]any{movieNew, movieOld}}
	return newWorldWith(t, demodirectory.NewAuth(data), demodirectory.NewFastAPI(data))
}

func newWorldWith(t *testing.T, auth, fastapi http.Handler) *world {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{
		store:    memory.New(),
		commands: &recordingBus{},
		events:   &recordingBus{},
		clock:    clock.NewFake(start),
		auth:     &counting{h: auth},
		fastapi:  &counting{h: fastapi},
	}
	client, err := upstream.New(upstream.Config{Attempts: 1}, logger,
		upstream.WithHandler("auth", w.auth), upstream.WithHandler("fastapi", w.fastapi))
	require.NoError(t, err)
	renderer, err := templating.New(templates.FS)
	require.NoError(t, err)
	dir, err := directory.New(client)
	require.NoError(t, err)

	w.create, err = app.NewCreatePostingHandler(w.store, w.commands, renderer, client, w.clock, logger)
	require.NoError(t, err)
	w.expand, err = app.NewExpandAudienceHandler(w.store, dir, client, w.commands, w.events, w.clock, 500, logger)
	require.NoError(t, err)
	w.outcomes, err = app.NewApplyDeliveryOutcomesHandler(w.store, w.clock, logger)
	require.NoError(t, err)
	w.cancel, err = app.NewCancelPostingHandler(w.store, w.events, w.clock, logger)
	require.NoError(t, err)
	w.sched, err = app.NewScheduler(w.store, w.commands, w.clock, logger)
	require.NoError(t, err)
	return w
}

// newMoviesCmd is the seed's new-movies mailing.
func newMoviesCmd(key string) posting.CreatePosting {
	return posting.CreatePosting{
		IdempotencyKey: key,
		FromEvent:      "evt-new-movies",
		FromService:    "cinema_scanner",
		Receivers:      "http://auth/api/v1/users/?is_active=True&email_notifications=True&page_number=1&page_size=500",
		Template:       "email/new_movies.md",
		DeliveryType:   []string{posting.ChannelEmail},
		TemplateContext: map[string]any{
			"movies": "http://fastapi/api/v1/movies/?new=True",
		},
	}
}

func (w *world) mustCreate(t *testing.T, cmd posting.CreatePosting) domain.Posting {
	t.Helper()
	p, created, err := w.create.Handle(context.Background(), cmd)
	require.NoError(t, err)
	require.True(t, created)
	return p
}

func (w *world) get(t *testing.T, id uuid.UUID) domain.Posting {
	t.Helper()
	p, err := w.store.Get(context.Background(), id)
	require.NoError(t, err)
	return p
}

// walk handles every queued ExpandAudience command, and those they cause,
// as the router would.
func (w *world) walk(t *testing.T) {
	t.Helper()
	for range 100 {
		var pending []app.ExpandAudience
		for _, m := range w.commands.take() {
			if c, ok := m.(app.ExpandAudience); ok {
				pending = append(pending, c)
			}
		}
		if len(pending) == 0 {
			return
		}
		for _, c := range pending {
			require.NoError(t, w.expand.Handle(context.Background(), c))
		}
	}
	t.Fatal("the walk did not end")
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
