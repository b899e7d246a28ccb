package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/adapters/directory"
	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// recordingBus records what is sent or published; failNext makes the next
// call fail. With a pool it records into the test schema's table
// test_messages through db.Q, as an outbox would: a message sent in a
// transaction that rolls back is not recorded.
type recordingBus struct {
	name     string
	pool     *pgxpool.Pool
	mu       sync.Mutex
	messages []any
	failNext int
}

func (b *recordingBus) record(ctx context.Context, v any) error {
	b.mu.Lock()
	if b.failNext > 0 {
		b.failNext--
		b.mu.Unlock()
		return errors.New("broker unavailable")
	}
	if b.pool == nil {
		b.messages = append(b.messages, v)
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	q, err := db.Q(ctx, b.pool)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO test_messages (bus, name, body) VALUES ($1, $2, $3)`,
		b.name, v.(interface{ Name() string }).Name(), body)
	return err
}

func (b *recordingBus) Send(ctx context.Context, cmd any) error      { return b.record(ctx, cmd) }
func (b *recordingBus) Publish(ctx context.Context, event any) error { return b.record(ctx, event) }

func (b *recordingBus) failNextCall() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failNext++
}

func (b *recordingBus) all() []any {
	if b.pool != nil {
		return b.stored(`SELECT name, body FROM test_messages WHERE bus = $1 ORDER BY seq`)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]any(nil), b.messages...)
}

// take removes and returns what was recorded.
func (b *recordingBus) take() []any {
	if b.pool != nil {
		return b.stored(`WITH taken AS (DELETE FROM test_messages WHERE bus = $1 RETURNING seq, name, body)
			SELECT name, body FROM taken ORDER BY seq`)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.messages
	b.messages = nil
	return out
}

// stored decodes the committed messages sql selects.
func (b *recordingBus) stored(sql string) []any {
	rows, err := b.pool.Query(context.Background(), sql, b.name)
	if err != nil {
		panic(err)
	}
	defer rows.Close()
	var out []any
	for rows.Next() {
		var (
			name string
			body []byte
		)
		if err := rows.Scan(&name, &body); err != nil {
			panic(err)
		}
		out = append(out, decodeMessage(name, body))
	}
	if err := rows.Err(); err != nil {
		panic(err)
	}
	return out
}

func decodeMessage(name string, body []byte) any {
	decode := func(v any) {
		if err := json.Unmarshal(body, v); err != nil {
			panic(err)
		}
	}
	switch name {
	case app.ExpandAudience{}.Name():
		var m app.ExpandAudience
		decode(&m)
		return m
	case posting.AudienceBatchResolved{}.Name():
		var m posting.AudienceBatchResolved
		decode(&m)
		return m
	case posting.PostingCancelled{}.Name():
		var m posting.PostingCancelled
		decode(&m)
		return m
	case posting.PostingFinished{}.Name():
		var m posting.PostingFinished
		decode(&m)
		m.FinishedAt = m.FinishedAt.UTC()
		return m
	}
	panic("unknown message " + name)
}

// finished returns the posting.PostingFinished events recorded.
func (b *recordingBus) finished() []posting.PostingFinished {
	var out []posting.PostingFinished
	for _, m := range b.all() {
		if e, ok := m.(posting.PostingFinished); ok {
			out = append(out, e)
		}
	}
	return out
}

// requireFinished checks that the one posting.PostingFinished recorded
// is p's, with status.
func (b *recordingBus) requireFinished(t *testing.T, p domain.Posting, status string) posting.PostingFinished {
	t.Helper()
	finished := b.finished()
	require.Len(t, finished, 1, "one PostingFinished")
	require.Equal(t, p.ID.String(), finished[0].PostingID)
	require.Equal(t, status, finished[0].Status)
	return finished[0]
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

// world is the posting module's use cases over a store, recording buses,
// a fake clock and in-process demo upstreams: a memory store (newWorld)
// or a PostgreSQL one whose buses write in the store's transactions
// (newPostgresWorld).
type world struct {
	store    domain.Store
	tx       app.TxRunner
	pool     *pgxpool.Pool
	commands *recordingBus
	events   *recordingBus
	clock    *clock.Fake
	auth     *counting
	fastapi  *counting
	logger   *slog.Logger
	dir      *directory.Directory
	client   *upstream.Client

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

func demoUpstreams(users []demodirectory.User) (auth, fastapi http.Handler) {
	data := &demodirectory.Data{Users: users, Movies: []map[string]any{movieNew, movieOld}}
	return demodirectory.NewAuth(data), demodirectory.NewFastAPI(data)
}

func newWorld(t *testing.T, users []demodirectory.User) *world {
	t.Helper()
	auth, fastapi := demoUpstreams(users)
	return newWorldWith(t, auth, fastapi)
}

func newWorldWith(t *testing.T, auth, fastapi http.Handler) *world {
	t.Helper()
	return build(t, &world{store: memory.New(), tx: db.NoTx{}}, auth, fastapi)
}

// newPostgresWorld is newWorld on a PostgreSQL schema of the test's own.
func newPostgresWorld(t *testing.T, users []demodirectory.User) *world {
	t.Helper()
	pool := testenv.Postgres(t)
	testenv.MustExec(t, pool, `CREATE TABLE test_messages (seq bigserial PRIMARY KEY, bus text, name text, body jsonb)`)
	store, err := postgres.New(pool)
	require.NoError(t, err)
	auth, fastapi := demoUpstreams(users)
	return build(t, &world{store: store, tx: db.PoolRunner{Pool: pool}, pool: pool}, auth, fastapi)
}

func build(t *testing.T, w *world, auth, fastapi http.Handler) *world {
	t.Helper()
	w.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	w.commands = &recordingBus{name: "commands", pool: w.pool}
	w.events = &recordingBus{name: "events", pool: w.pool}
	w.clock = clock.NewFake(start)
	w.auth, w.fastapi = &counting{h: auth}, &counting{h: fastapi}
	client, err := upstream.New(upstream.Config{Attempts: 1}, w.logger,
		upstream.WithHandler("auth", w.auth), upstream.WithHandler("fastapi", w.fastapi))
	require.NoError(t, err)
	renderer, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	dir, err := directory.New(client)
	require.NoError(t, err)

	w.create, err = app.NewCreatePostingHandler(w.store, w.tx, w.commands, w.events, renderer, client, w.clock, w.logger)
	require.NoError(t, err)
	w.dir, w.client = dir, client
	w.window(t, 500, app.DefaultMaxAhead)
	w.cancel, err = app.NewCancelPostingHandler(w.store, w.tx, w.events, w.clock, w.logger)
	require.NoError(t, err)
	w.sched, err = app.NewScheduler(w.store, w.tx, w.commands, w.clock, w.logger)
	require.NoError(t, err)
	return w
}

// window rebuilds the walk's handlers with a directory page size and a
// max_ahead window.
func (w *world) window(t *testing.T, pageSize, maxAhead int) {
	t.Helper()
	var err error
	w.expand, err = app.NewExpandAudienceHandler(w.store, w.tx, w.dir, w.client, w.commands, w.events, w.clock, pageSize, maxAhead, w.logger)
	require.NoError(t, err)
	w.outcomes, err = app.NewApplyDeliveryOutcomesHandler(w.store, w.tx, w.commands, w.events, w.clock, maxAhead, w.logger)
	require.NoError(t, err)
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

// eachWorld runs test on a memory world and on a PostgreSQL one.
func eachWorld(t *testing.T, users []demodirectory.User, test func(t *testing.T, w *world)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		test(t, newWorld(t, users))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, newPostgresWorld(t, users))
	})
}
