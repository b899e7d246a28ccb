package poisonqueue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/poisonqueue"
)

// t0 is a time every database keeps exactly (whole microseconds, UTC).
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const retention = 7 * 24 * time.Hour

// entry returns the entry of message uuid refused by handler at at.
func entry(uuid, handler string, at time.Time) poisonqueue.Message {
	payload := []byte(`{"event":"user_deleted","details":{"email":"anna@example.com"}}`)
	return poisonqueue.Message{
		ID: poisonqueue.EntryID(uuid, handler), MessageID: uuid, Topic: "notifier.events", Handler: handler,
		Reason: "unknown event auth/user_deleted", Payload: payload, PayloadSize: len(payload),
		Metadata:   map[string]string{"handler_poisoned": handler, "lane": "bulk"},
		PoisonedAt: at,
	}
}

// TestTheStoresPassTheStoreContract runs the contract on the memory store
// and on PostgreSQL.
func TestTheStoresPassTheStoreContract(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T, c clock.Clock) poisonqueue.Store{
		"memory": func(t *testing.T, c clock.Clock) poisonqueue.Store {
			s, err := poisonqueue.NewMemory(c, retention)
			require.NoError(t, err)
			return s
		},
		"postgres": func(t *testing.T, c clock.Clock) poisonqueue.Store {
			s, err := poisonqueue.NewPostgres(testenv.Postgres(t), c, retention)
			require.NoError(t, err)
			return s
		},
	}
	contract := map[string]func(t *testing.T, s poisonqueue.Store, c *clock.Fake){
		"RecordIsIdempotentAndAnEarlierPoisoningIsReplaced": recordIsIdempotent,
		"ListPagesNewestFirstWithFiltersAndPreviews":        listPagesNewestFirst,
		"ListRefusesACursorItDidNotIssue":                   listRefusesForeignCursor,
		"GetReturnsTheWholeEntryOrNotFound":                 getReturnsWholeEntry,
		"TakeDeletesWhenFnSucceedsAndKeepsWhenItFails":      takeDeletesOnSuccess,
		"ConcurrentTakesOfOneEntryPassItToOneFn":            concurrentTakesPassOnce,
		"DeleteDeletesOnce":                                 deleteDeletesOnce,
		"EntriesPastTheirRetentionAreGoneAndSwept":          retentionHidesAndSweeps,
	}
	for storeName, newStore := range stores {
		t.Run(storeName, func(t *testing.T) {
			t.Parallel()
			for name, test := range contract {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					c := clock.NewFake(t0.Add(time.Hour))
					test(t, newStore(t, c), c)
				})
			}
		})
	}
}

func recordIsIdempotent(t *testing.T, s poisonqueue.Store, _ *clock.Fake) {
	ctx := context.Background()
	first := entry("m1", "h1", t0)
	require.NoError(t, s.Record(ctx, first))
	require.NoError(t, s.Record(ctx, first), "a redelivered poisoning")
	stale := first
	stale.Reason = "an older copy"
	stale.PoisonedAt = t0.Add(-time.Minute)
	require.NoError(t, s.Record(ctx, stale))

	got, err := s.Get(ctx, first.ID)
	require.NoError(t, err)
	require.Equal(t, first.Reason, got.Reason, "an earlier poisoning does not replace a later one")

	again := first
	again.Reason = "upstream still down"
	again.PoisonedAt = t0.Add(time.Minute)
	require.NoError(t, s.Record(ctx, again), "the same message refused again after a requeue")
	got, err = s.Get(ctx, first.ID)
	require.NoError(t, err)
	require.Equal(t, "upstream still down", got.Reason)
	require.True(t, got.PoisonedAt.Equal(again.PoisonedAt))

	other := entry("m1", "h2", t0)
	require.NoError(t, s.Record(ctx, other), "the same message refused by another handler: another entry")
	page, err := s.List(ctx, poisonqueue.Query{Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
}

func listPagesNewestFirst(t *testing.T, s poisonqueue.Store, _ *clock.Fake) {
	ctx := context.Background()
	var want []string
	for i := range 5 {
		m := entry(fmt.Sprintf("m%d", i), "h1", t0.Add(time.Duration(i/2)*time.Second)) // two share each second
		if i == 4 {
			m.Handler, m.Topic = "h2", "commands.posting.CreatePosting.v1"
			m.ID = poisonqueue.EntryID(m.MessageID, m.Handler)
		}
		require.NoError(t, s.Record(ctx, m))
		want = append(want, m.ID)
	}
	var got []string
	cursor := ""
	for i := 0; ; i++ {
		require.Less(t, i, 10)
		page, err := s.List(ctx, poisonqueue.Query{Limit: 2, Cursor: cursor, PayloadPrefix: 9})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Items), 2)
		for _, m := range page.Items {
			got = append(got, m.ID)
			require.Equal(t, `{"event":`, string(m.Payload), "the preview's prefix only")
			require.Equal(t, 63, m.PayloadSize, "the whole length")
			require.NotEmpty(t, m.Reason)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Len(t, got, 5)
	for i := 1; i < len(got); i++ {
		a, err := s.Get(ctx, got[i-1])
		require.NoError(t, err)
		b, err := s.Get(ctx, got[i])
		require.NoError(t, err)
		require.True(t, a.PoisonedAt.After(b.PoisonedAt) || (a.PoisonedAt.Equal(b.PoisonedAt) && a.ID > b.ID), "newest first, then by id")
	}
	require.ElementsMatch(t, want, got)

	byHandler, err := s.List(ctx, poisonqueue.Query{Limit: 10, Handler: "h2"})
	require.NoError(t, err)
	require.Len(t, byHandler.Items, 1)
	require.Equal(t, want[4], byHandler.Items[0].ID)
	require.Empty(t, byHandler.Items[0].Payload, "no prefix asked for")
	byTopic, err := s.List(ctx, poisonqueue.Query{Limit: 10, Topic: "notifier.events"})
	require.NoError(t, err)
	require.Len(t, byTopic.Items, 4)
	none, err := s.List(ctx, poisonqueue.Query{Limit: 10, Handler: "h1", Topic: "commands.posting.CreatePosting.v1"})
	require.NoError(t, err)
	require.Empty(t, none.Items)
	require.Empty(t, none.NextCursor)
}

func listRefusesForeignCursor(t *testing.T, s poisonqueue.Store, _ *clock.Fake) {
	for _, cursor := range []string{"not a cursor!", "MjAyNi0wMy0wMVQxMjowMDowMFoAbm90LWEtdXVpZA"} {
		_, err := s.List(context.Background(), poisonqueue.Query{Limit: 10, Cursor: cursor})
		require.ErrorIs(t, err, poisonqueue.ErrInvalidCursor, cursor)
	}
}

func getReturnsWholeEntry(t *testing.T, s poisonqueue.Store, _ *clock.Fake) {
	ctx := context.Background()
	m := entry("m1", "h1", t0)
	m.Payload = []byte{0xff, 0x00, 'x'} // not UTF-8, with a NUL: kept as it is
	m.PayloadSize = 3
	require.NoError(t, s.Record(ctx, m))

	got, err := s.Get(ctx, m.ID)
	require.NoError(t, err)
	require.Equal(t, m, got)

	_, err = s.Get(ctx, poisonqueue.EntryID("m2", "h1"))
	require.ErrorIs(t, err, poisonqueue.ErrNotFound)
	_, err = s.Get(ctx, "not-a-uuid")
	require.ErrorIs(t, err, poisonqueue.ErrNotFound)
}

func takeDeletesOnSuccess(t *testing.T, s poisonqueue.Store, _ *clock.Fake) {
	ctx := context.Background()
	m := entry("m1", "h1", t0)
	require.NoError(t, s.Record(ctx, m))

	boom := errors.New("broker down")
	err := s.Take(ctx, m.ID, func(_ context.Context, got poisonqueue.Message) error {
		require.Equal(t, m, got)
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = s.Get(ctx, m.ID)
	require.NoError(t, err, "kept when fn fails")

	var taken poisonqueue.Message
	require.NoError(t, s.Take(ctx, m.ID, func(_ context.Context, got poisonqueue.Message) error { taken = got; return nil }))
	require.Equal(t, m, taken)
	_, err = s.Get(ctx, m.ID)
	require.ErrorIs(t, err, poisonqueue.ErrNotFound)
	err = s.Take(ctx, m.ID, func(context.Context, poisonqueue.Message) error { t.Fatal("fn called for a taken entry"); return nil })
	require.ErrorIs(t, err, poisonqueue.ErrNotFound)
}

func concurrentTakesPassOnce(t *testing.T, s poisonqueue.Store, _ *clock.Fake) {
	ctx := context.Background()
	m := entry("m1", "h1", t0)
	require.NoError(t, s.Record(ctx, m))
	var calls, notFound atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := s.Take(ctx, m.ID, func(context.Context, poisonqueue.Message) error {
				calls.Add(1)
				time.Sleep(10 * time.Millisecond) // hold it while the others try
				return nil
			})
			if errors.Is(err, poisonqueue.ErrNotFound) {
				notFound.Add(1)
			} else {
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), calls.Load())
	require.Equal(t, int32(7), notFound.Load())
}

func deleteDeletesOnce(t *testing.T, s poisonqueue.Store, _ *clock.Fake) {
	ctx := context.Background()
	m := entry("m1", "h1", t0)
	require.NoError(t, s.Record(ctx, m))
	require.NoError(t, s.Delete(ctx, m.ID))
	require.ErrorIs(t, s.Delete(ctx, m.ID), poisonqueue.ErrNotFound)
	require.ErrorIs(t, s.Delete(ctx, "not-a-uuid"), poisonqueue.ErrNotFound)
	_, err := s.Get(ctx, m.ID)
	require.ErrorIs(t, err, poisonqueue.ErrNotFound)
}

func retentionHidesAndSweeps(t *testing.T, s poisonqueue.Store, c *clock.Fake) {
	ctx := context.Background()
	old, recent := entry("old", "h1", t0), entry("recent", "h1", t0.Add(2*time.Hour))
	require.NoError(t, s.Record(ctx, old))
	require.NoError(t, s.Record(ctx, recent))

	c.Set(t0.Add(retention).Add(time.Second)) // old is past its retention, recent is not
	_, err := s.Get(ctx, old.ID)
	require.ErrorIs(t, err, poisonqueue.ErrNotFound, "past its retention before any sweep")
	require.ErrorIs(t, s.Delete(ctx, old.ID), poisonqueue.ErrNotFound)
	require.ErrorIs(t, s.Take(ctx, old.ID, func(context.Context, poisonqueue.Message) error { return nil }), poisonqueue.ErrNotFound)
	page, err := s.List(ctx, poisonqueue.Query{Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, recent.ID, page.Items[0].ID)

	// Recorded again (a poison queue redelivering it), it stays gone.
	require.NoError(t, s.Record(ctx, old))
	n, err := s.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	n, err = s.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = s.Get(ctx, recent.ID)
	require.NoError(t, err)
}

// In PostgreSQL, fn runs in the transaction that deletes the entry: what it
// writes through db.Q (the outbox, a topic's table) commits with the
// deletion, or not at all.
func TestInPostgresTakeRunsFnInTheTransactionOfTheDeletion(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	testenv.MustExec(t, pool, "CREATE TABLE published (id text NOT NULL)")
	s, err := poisonqueue.NewPostgres(pool, clock.NewFake(t0), retention)
	require.NoError(t, err)
	ctx := context.Background()
	m := entry("m1", "h1", t0)
	require.NoError(t, s.Record(ctx, m))
	publish := func(fail bool) func(context.Context, poisonqueue.Message) error {
		return func(ctx context.Context, m poisonqueue.Message) error {
			q, err := db.Q(ctx, pool)
			require.NoError(t, err)
			_, err = q.Exec(ctx, "INSERT INTO published (id) VALUES ($1)", m.ID)
			require.NoError(t, err)
			if fail {
				return errors.New("later failure")
			}
			return nil
		}
	}
	published := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM published").Scan(&n))
		return n
	}

	require.Error(t, s.Take(ctx, m.ID, publish(true)))
	require.Zero(t, published(), "rolled back with the entry kept")
	require.NoError(t, s.Take(ctx, m.ID, publish(false)))
	require.Equal(t, 1, published())
	_, err = s.Get(ctx, m.ID)
	require.ErrorIs(t, err, poisonqueue.ErrNotFound)
}

// Record joins the poison handler's unit of work; a value PostgreSQL
// refuses is a permanent failure, so the message is not redelivered for
// ever, and it leaves the unit of work able to commit (the handler drops
// the message and succeeds; a failed commit would have it poisoned again).
func TestInPostgresARecordThatCanNeverSucceedIsPermanentAndLeavesTheUnitOfWorkWhole(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	s, err := poisonqueue.NewPostgres(pool, clock.NewFake(t0), retention)
	require.NoError(t, err)
	bad := entry("m1", "h1", t0)
	bad.Reason = "bad\x00reason" // FromMessage never makes one; a caller could
	good := entry("m2", "h1", t0)

	err = s.Record(context.Background(), bad)
	require.Error(t, err)
	require.True(t, messaging.IsPermanent(err), "%v", err)

	ctx, finish := db.Begin(context.Background(), pool)
	require.NoError(t, s.Record(ctx, good))
	err = s.Record(ctx, bad)
	require.True(t, messaging.IsPermanent(err), "%v", err)
	require.NoError(t, finish(nil), "the transaction still commits")
	_, err = s.Get(context.Background(), good.ID)
	require.NoError(t, err, "what the unit of work recorded before stands")
	_, err = s.Get(context.Background(), bad.ID)
	require.ErrorIs(t, err, poisonqueue.ErrNotFound)
}

func TestStoresRefuseABadRetentionOrPool(t *testing.T) {
	t.Parallel()
	_, err := poisonqueue.NewMemory(nil, 0)
	require.Error(t, err)
	_, err = poisonqueue.NewPostgres(nil, nil, time.Hour)
	require.Error(t, err)
}
