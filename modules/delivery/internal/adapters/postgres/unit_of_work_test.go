package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/templating"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func k(user string) domain.Key { return domain.Key{PostingID: "p1", UserID: user, Channel: "email"} }

func TestRowTransitionsCommitEvenWhenTheCallersUnitOfWorkRollsBack(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx, finish := db.Begin(context.Background(), pool)

	_, err := s.InsertPending(ctx, []domain.Key{k("sent"), k("busy"), k("skipped")}, at)
	require.NoError(t, err)
	_, changed, err := s.Finish(ctx, k("sent"), app.Final{Status: delivery.StatusSent, Attempted: true, At: at})
	require.NoError(t, err)
	require.True(t, changed)
	ok, err := s.RecordAttempt(ctx, k("busy"), "smtp: 451", at)
	require.NoError(t, err)
	require.True(t, ok)
	n, err := s.FinishMany(ctx, []app.Transition{{Key: k("skipped"), Final: app.Final{Status: delivery.StatusSkipped, At: at}}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Error(t, finish(errors.New("a later step failed")))

	page, err := s.ListByPosting(context.Background(), "p1", app.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 3)
	require.Equal(t, delivery.StatusPending, page.Items[0].Status)
	require.Equal(t, 1, page.Items[0].Attempts, "busy: the attempt is kept")
	require.Equal(t, delivery.StatusSent, page.Items[1].Status, "a message really sent stays marked sent")
	require.Equal(t, delivery.StatusSkipped, page.Items[2].Status)
}

func TestReportCommitsWithTheCallersUnitOfWork(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	bg := context.Background()
	_, err := s.InsertPending(bg, []domain.Key{k("u1")}, at)
	require.NoError(t, err)
	_, _, err = s.Finish(bg, k("u1"), app.Final{Status: delivery.StatusSent, At: at})
	require.NoError(t, err)
	scope := app.ReportScope{PostingID: "p1", Keys: []domain.Key{k("u1")}}

	ctx, finish := db.Begin(bg, pool)
	n, err := s.Report(ctx, scope, func(ctx context.Context, rows []domain.Delivery) error {
		_, inTx, err := db.TxFrom(ctx)
		require.NoError(t, err)
		require.True(t, inTx, "publish runs in the unit of work, so the outbox row commits with the marks")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Error(t, finish(errors.New("the handler failed after its report")))

	var reported bool
	require.NoError(t, pool.QueryRow(bg, `SELECT reported FROM deliveries WHERE user_id = 'u1'`).Scan(&reported))
	require.False(t, reported, "rolled back with the unit of work")

	// Without a unit of work, Report commits on its own.
	n, err = s.Report(bg, scope, func(context.Context, []domain.Delivery) error { return nil })
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, pool.QueryRow(bg, `SELECT reported FROM deliveries WHERE user_id = 'u1'`).Scan(&reported))
	require.True(t, reported)
}

// outboxPublisher writes each event into a test outbox table through the
// unit of work in ctx, as the production outbox publisher does, and fails
// (after writing) while fail is set.
type outboxPublisher struct {
	pool *pgxpool.Pool
	fail atomic.Bool
}

func (p *outboxPublisher) Publish(ctx context.Context, event any) error {
	q, err := db.Q(ctx, p.pool)
	if err != nil {
		return err
	}
	body, err := json.Marshal(event)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `INSERT INTO test_outbox (body) VALUES ($1)`, body); err != nil {
		return err
	}
	if p.fail.Load() {
		return errors.New("broker down")
	}
	return nil
}

type countingSender struct {
	mu   sync.Mutex
	sent map[string]int
}

func (s *countingSender) Send(_ context.Context, m app.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[m.To]++
	return nil
}

// TestRedeliveredBatchReportsOnceWhatARolledBackUnitOfWorkLeftUnreported
// runs the handler the way the router does in PostgreSQL mode: in a unit
// of work that rolls back when the handler fails. The first attempt sends
// the batch, then fails to publish: its outbox row and its reported marks
// roll back, its sent marks do not. The redelivered batch sends nothing
// again and reports every row, once.
func TestRedeliveredBatchReportsOnceWhatARolledBackUnitOfWorkLeftUnreported(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	testenv.MustExec(t, pool, `CREATE TABLE test_outbox (id serial PRIMARY KEY, body jsonb NOT NULL)`)
	renderer, err := templating.New(fstest.MapFS{
		"layouts/email.html": {Data: []byte("<html><body>{{ content|safe }}</body></html>")},
		"email/hello.md":     {Data: []byte("---\nsubject: Hello\n---\nHello, {{ user.first_name }}!\n")},
	}, "ru")
	require.NoError(t, err)
	email := &countingSender{sent: map[string]int{}}
	events := &outboxPublisher{pool: pool}
	// Three workers: the rows are marked concurrently.
	workers, err := app.NewWorkers(3, func() (app.Senders, error) { return app.Senders{"email": email}, nil }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	workers.Start()
	t.Cleanup(func() { require.NoError(t, workers.Stop(context.Background())) })
	handler, err := app.NewDeliverBatchHandler(s, renderer, workers, events,
		clock.NewFake(at), app.RetryPolicy{MaxAttempts: 1}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	batch := delivery.DeliverBatch{PostingID: "p1", Template: "email/hello.md",
		Skipped: []delivery.SkippedItem{{UserID: "u9", Channel: "email", Reason: "opted out"}}}
	for i := range 3 {
		user := fmt.Sprintf("u%d", i)
		batch.Items = append(batch.Items, delivery.Item{Channel: "email", Recipient: delivery.Recipient{UserID: user, Email: user + "@example.com"}})
	}
	handle := func() error {
		ctx, finish := db.Begin(context.Background(), pool)
		return finish(handler.Handle(ctx, batch))
	}

	events.fail.Store(true)
	require.ErrorContains(t, handle(), "broker down")
	var outboxRows int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM test_outbox`).Scan(&outboxRows))
	require.Zero(t, outboxRows, "the event rolled back with the unit of work")

	events.fail.Store(false)
	require.NoError(t, handle())
	require.NoError(t, handle())
	require.Equal(t, map[string]int{"u0@example.com": 1, "u1@example.com": 1, "u2@example.com": 1}, email.sent, "each message sent once")

	rows, err := pool.Query(context.Background(), `SELECT body FROM test_outbox ORDER BY id`)
	require.NoError(t, err)
	published, err := pgx.CollectRows(rows, pgx.RowTo[delivery.DeliveryOutcomes])
	require.NoError(t, err)
	require.Len(t, published, 1, "one event, from the first redelivery")
	var got []string
	for _, o := range published[0].Outcomes {
		got = append(got, o.UserID+"="+o.Status)
	}
	require.Equal(t, []string{"u0=sent", "u1=sent", "u2=sent", "u9=skipped"}, got)
}
