// Package storetest is the contract every posting store passes: the
// in-memory store and the PostgreSQL store. Call Run from the adapter's
// tests with a constructor of empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
)

// base is the creation time of the first posting of each test; times are
// whole microseconds, as PostgreSQL keeps them.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// retention is how long the keys of the postings that create stores are
// held.
const retention = 24 * time.Hour

// Run runs the store contract against stores made by newStore, each empty.
func Run(t *testing.T, newStore func(t *testing.T) domain.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s domain.Store)
	}{
		{"CreateThenGetReturnsEveryField", testCreateThenGet},
		{"CreateWithATakenKeyReturnsTheExistingPosting", testCreateIsIdempotent},
		{"ConcurrentCreatesWithOneKeyStoreOnePosting", testConcurrentCreates},
		{"AKeyIsHeldUntilItExpiresThenMakesANewPosting", testKeyExpires},
		{"ConcurrentCreatesWithAnExpiredKeyStoreOnePosting", testConcurrentTakeovers},
		{"SweepKeysForgetsOnlyExpiredKeys", testSweepKeys},
		{"GetUnknownIsNotFound", testGetUnknown},
		{"UpdateWritesWhatTheFunctionChanged", testUpdate},
		{"UpdateThatFailsWritesNothing", testUpdateFails},
		{"UpdateUnknownIsNotFound", testUpdateUnknown},
		{"ConcurrentUpdatesLoseNoWrite", testConcurrentUpdates},
		{"NilAndEmptyContextsStayApart", testNilAndEmptyContexts},
		{"AddOutcomesAddsTheCountersAndSettles", testAddOutcomes},
		{"AddOutcomesOfUnknownIsNotFound", testAddOutcomesUnknown},
		{"WalkPausedIsKeptByUpdatesAndReturnedByAddOutcomes", testWalkPaused},
		{"ConcurrentOutcomesAndPagesLoseNoCountAndSettleOnce", testConcurrentOutcomesAndPages},
		{"ReturnedPostingsShareNothingWithTheStore", testCopies},
		{"ListIsNewestFirstFilteredAndPaged", testList},
		{"ListDueReturnsScheduledPostingsWhoseTimeHasCome", testListDue},
		{"CountByStatusCountsEveryPostingInItsCurrentStatus", testCountByStatus},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
}

func newPosting(key string, created time.Time) domain.Posting {
	return domain.New(uuid.New(), spec(key), created)
}

func spec(key string) domain.Spec {
	return domain.Spec{
		IdempotencyKey:   key,
		FromEvent:        "evt-1",
		FromService:      "cinema_scanner",
		NotificationType: posting.TypeNewMovies,
		Receivers:        "http://auth/api/v1/users/?is_active=True",
		Template:         "email/new_movies.md",
		Channels:         []string{posting.ChannelEmail},
		TemplateContext:  map[string]any{"movies": "http://fastapi/api/v1/movies/?new=True"},
		Priority:         posting.PriorityBulk,
	}
}

func create(t *testing.T, s domain.Store, p domain.Posting) domain.Posting {
	t.Helper()
	got, created, err := s.Create(context.Background(), p, p.CreatedAt.Add(retention))
	require.NoError(t, err)
	require.True(t, created, "posting %s should be new", p.IdempotencyKey)
	return got
}

// requireSame compares postings with times compared as instants.
func requireSame(t *testing.T, want, got domain.Posting) {
	t.Helper()
	norm := func(p domain.Posting) domain.Posting {
		p = p.Clone()
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		for _, tp := range []**time.Time{&p.ExpiresAt, &p.SendAt, &p.CompletedAt} {
			if *tp != nil {
				u := (**tp).UTC()
				*tp = &u
			}
		}
		return p
	}
	require.Equal(t, norm(want), norm(got))
}

func testCreateThenGet(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := newPosting("k1", base)
	expires, sendAt, completed := base.Add(time.Hour), base.Add(-time.Minute), base.Add(2*time.Minute)
	p.ExpiresAt, p.SendAt, p.CompletedAt = &expires, &sendAt, &completed
	p.ResolvedContext = map[string]any{"movies": []any{map[string]any{"title": "Дюна", "year": float64(2021)}}}
	p.ContextResolved, p.WalkDone, p.WalkPaused = true, true, true
	p.Status, p.NextPage, p.Error = domain.StatusFailed, 3, "directory page not found"
	p.Counters = domain.Counters{Recipients: 6, Skipped: 1, Sent: 2, Failed: 1, Expired: 1, Cancelled: 1}
	p.UpdatedAt = base.Add(time.Second)
	p.RequestFingerprint = "sha256:0123"
	p.WebhookURL = "https://crm.example.com/hooks/notifier?token=s3cret"

	created := create(t, s, p)
	requireSame(t, p, created)
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	requireSame(t, p, got)
}

func testCreateIsIdempotent(t *testing.T, s domain.Store) {
	first := create(t, s, newPosting("same-key", base))
	again := newPosting("same-key", base.Add(time.Second))
	got, created, err := s.Create(context.Background(), again, again.CreatedAt.Add(retention))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first.ID, got.ID, "the existing posting comes back")
	_, err = s.Get(context.Background(), again.ID)
	require.ErrorIs(t, err, domain.ErrNotFound, "the repeat was not stored")
}

func testConcurrentCreates(t *testing.T, s domain.Store) {
	const n = 16
	var wg sync.WaitGroup
	ids := make(chan uuid.UUID, n)
	createdCount := make(chan bool, n)
	for i := range n {
		wg.Go(func() {
			p := newPosting("raced", base.Add(time.Duration(i)*time.Microsecond))
			got, created, err := s.Create(context.Background(), p, p.CreatedAt.Add(retention))
			if err == nil {
				ids <- got.ID
				createdCount <- created
			}
		})
	}
	wg.Wait()
	close(ids)
	close(createdCount)
	seen := map[uuid.UUID]bool{}
	for id := range ids {
		seen[id] = true
	}
	news := 0
	for c := range createdCount {
		if c {
			news++
		}
	}
	require.Len(t, seen, 1, "every caller gets the same posting")
	require.Equal(t, 1, news, "exactly one caller created it")
}

func testKeyExpires(t *testing.T, s domain.Store) {
	ctx := context.Background()
	first := newPosting("resent", base)
	first.RequestFingerprint = "sha256:first"
	first = create(t, s, first)
	expiry := base.Add(retention)

	// Just before the expiry the key answers with its posting.
	early := newPosting("resent", expiry.Add(-time.Microsecond))
	got, created, err := s.Create(ctx, early, early.CreatedAt.Add(retention))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first.ID, got.ID)
	require.Equal(t, "sha256:first", got.RequestFingerprint, "the holder comes back with its fingerprint")

	// From the expiry on it is free: the same key makes a new posting.
	second := newPosting("resent", expiry)
	second.RequestFingerprint = "sha256:second"
	got, created, err = s.Create(ctx, second, expiry.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, second.ID, got.ID)

	// The new posting holds it until its own expiry.
	again := newPosting("resent", expiry.Add(time.Hour-time.Microsecond))
	got, created, err = s.Create(ctx, again, again.CreatedAt.Add(retention))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, second.ID, got.ID)
	require.Equal(t, "sha256:second", got.RequestFingerprint)

	// The first posting stays readable by id and listed.
	old, err := s.Get(ctx, first.ID)
	require.NoError(t, err)
	requireSame(t, first, old)
	all, err := s.List(ctx, domain.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, []uuid.UUID{second.ID, first.ID}, []uuid.UUID{all[0].ID, all[1].ID})
}

func testConcurrentTakeovers(t *testing.T, s domain.Store) {
	old := create(t, s, newPosting("raced", base))
	later := base.Add(retention)
	const n = 16
	var wg sync.WaitGroup
	ids := make(chan uuid.UUID, n)
	news := make(chan uuid.UUID, n)
	for i := range n {
		wg.Go(func() {
			p := newPosting("raced", later.Add(time.Duration(i)*time.Microsecond))
			got, created, err := s.Create(context.Background(), p, p.CreatedAt.Add(retention))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- got.ID
			if created {
				news <- got.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	close(news)
	seen := map[uuid.UUID]bool{}
	for id := range ids {
		seen[id] = true
	}
	require.Len(t, news, 1, "exactly one caller took the expired key over")
	require.Len(t, seen, 1, "every caller gets the new posting")
	require.NotContains(t, seen, old.ID)
}

func testSweepKeys(t *testing.T, s domain.Store) {
	ctx := context.Background()
	short := newPosting("short", base)
	_, _, err := s.Create(ctx, short, base.Add(time.Hour))
	require.NoError(t, err)
	long := newPosting("long", base)
	_, _, err = s.Create(ctx, long, base.Add(2*time.Hour))
	require.NoError(t, err)

	n, err := s.SweepKeys(ctx, base.Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the key that expired at that instant")
	n, err = s.SweepKeys(ctx, base.Add(time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to sweep")

	// A swept posting stays; its key makes a new one, the other key holds.
	_, err = s.Get(ctx, short.ID)
	require.NoError(t, err)
	at := base.Add(time.Hour + time.Second)
	got, created, err := s.Create(ctx, newPosting("short", at), at.Add(retention))
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, short.ID, got.ID)
	got, created, err = s.Create(ctx, newPosting("long", at), at.Add(retention))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, long.ID, got.ID)
}

func testGetUnknown(t *testing.T, s domain.Store) {
	_, err := s.Get(context.Background(), uuid.New())
	require.ErrorIs(t, err, domain.ErrNotFound)
}

func testUpdate(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := create(t, s, newPosting("k", base))
	now := base.Add(time.Minute)
	updated, err := s.Update(ctx, p.ID, func(p *domain.Posting) error {
		p.FreezeContext(map[string]any{"movies": []any{"a"}}, now)
		return p.RecordPage(1, 500, false, now)
	})
	require.NoError(t, err)
	require.Equal(t, domain.StatusDispatching, updated.Status)
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	requireSame(t, updated, got)
	require.Equal(t, 2, got.NextPage)
	require.Equal(t, 500, got.Counters.Recipients)
	require.Equal(t, map[string]any{"movies": []any{"a"}}, got.ResolvedContext)

	hooked := newPosting("hooked", base)
	hooked.WebhookURL = "https://crm.example.com/hooks/notifier"
	hooked = create(t, s, hooked)
	updated, err = s.Update(ctx, hooked.ID, func(p *domain.Posting) error { return p.RecordPage(1, 1, true, now) })
	require.NoError(t, err)
	require.Equal(t, "https://crm.example.com/hooks/notifier", updated.WebhookURL, "an update keeps the webhook URL")
}

func testUpdateFails(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := create(t, s, newPosting("k", base))
	errNope := errors.New("nope")
	_, err := s.Update(ctx, p.ID, func(p *domain.Posting) error {
		p.Status = domain.StatusCancelled
		p.Counters.Sent = 99
		return fmt.Errorf("wrapped: %w", errNope)
	})
	require.ErrorIs(t, err, errNope)
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	requireSame(t, p, got)
}

func testUpdateUnknown(t *testing.T, s domain.Store) {
	called := false
	_, err := s.Update(context.Background(), uuid.New(), func(*domain.Posting) error { called = true; return nil })
	require.ErrorIs(t, err, domain.ErrNotFound)
	require.False(t, called)
}

func testConcurrentUpdates(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := create(t, s, newPosting("k", base))
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.Update(ctx, p.ID, func(p *domain.Posting) error {
				p.Counters.Sent++
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, n, got.Counters.Sent)
}

func testNilAndEmptyContexts(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := newPosting("k", base)
	p.TemplateContext = nil
	p = create(t, s, p)
	require.Nil(t, p.TemplateContext)
	require.Nil(t, p.ResolvedContext)

	_, err := s.Update(ctx, p.ID, func(p *domain.Posting) error {
		p.FreezeContext(map[string]any{}, base) // a nil context resolves to an empty one
		return nil
	})
	require.NoError(t, err)
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	require.Nil(t, got.TemplateContext)
	require.NotNil(t, got.ResolvedContext)
	require.Empty(t, got.ResolvedContext)
}

// dispatching stores a one-channel posting whose walk found recipients
// users in one page.
func dispatching(t *testing.T, s domain.Store, key string, recipients int) domain.Posting {
	t.Helper()
	p := newPosting(key, base)
	p.FreezeContext(map[string]any{}, base)
	require.NoError(t, p.RecordPage(1, recipients, true, base))
	require.Equal(t, domain.StatusDispatching, p.Status)
	return create(t, s, p)
}

func testAddOutcomes(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := dispatching(t, s, "k", 4)
	later := base.Add(time.Minute)

	got, settled, err := s.AddOutcomes(ctx, p.ID, domain.Counters{Recipients: 100, Sent: 1, Skipped: 1}, later)
	require.NoError(t, err)
	require.False(t, settled)
	require.Equal(t, domain.Counters{Recipients: 4, Sent: 1, Skipped: 1}, got.Counters, "recipients are not outcomes")
	require.Equal(t, domain.StatusDispatching, got.Status)
	require.Equal(t, later, got.UpdatedAt)
	require.Nil(t, got.CompletedAt)

	done := later.Add(time.Minute)
	got, settled, err = s.AddOutcomes(ctx, p.ID, domain.Counters{Failed: 1, Expired: 1}, done)
	require.NoError(t, err)
	require.True(t, settled, "the last outcomes settle it")
	require.Equal(t, domain.StatusCompleted, got.Status)
	require.Equal(t, done, *got.CompletedAt)
	stored, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	requireSame(t, got, stored)
	require.Equal(t, domain.Counters{Recipients: 4, Sent: 1, Skipped: 1, Failed: 1, Expired: 1}, stored.Counters)

	// Outcomes of a finished posting still count; its status stays.
	got, settled, err = s.AddOutcomes(ctx, p.ID, domain.Counters{Cancelled: 2}, done.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, settled, "it was settled before")
	require.Equal(t, 2, got.Counters.Cancelled)
	require.Equal(t, domain.StatusCompleted, got.Status)
	require.Equal(t, done, *got.CompletedAt)
}

func testWalkPaused(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := create(t, s, newPosting("k", base))
	now := base.Add(time.Minute)
	paused, err := s.Update(ctx, p.ID, func(p *domain.Posting) error {
		p.FreezeContext(nil, now)
		if err := p.RecordPage(1, 500, false, now); err != nil {
			return err
		}
		require.True(t, p.PauseWalkIfAhead(600, 500), "500 outstanding and a page of 500 exceed 600")
		return nil
	})
	require.NoError(t, err)
	require.True(t, paused.WalkPaused)

	got, _, err := s.AddOutcomes(ctx, p.ID, domain.Counters{Sent: 200}, now)
	require.NoError(t, err)
	require.True(t, got.WalkPaused, "outcomes alone do not resume a walk")
	require.Equal(t, 300, got.Outstanding())

	resumed, err := s.Update(ctx, p.ID, func(p *domain.Posting) error {
		require.True(t, p.ResumeWalk(600, now), "300 outstanding is half the window")
		return nil
	})
	require.NoError(t, err)
	require.False(t, resumed.WalkPaused)
	stored, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	requireSame(t, resumed, stored)
}

func testAddOutcomesUnknown(t *testing.T, s domain.Store) {
	_, _, err := s.AddOutcomes(context.Background(), uuid.New(), domain.Counters{Sent: 1}, base)
	require.ErrorIs(t, err, domain.ErrNotFound)
}

// testConcurrentOutcomesAndPages races outcome batches, as several
// instances apply them, against the update that records the last page.
func testConcurrentOutcomesAndPages(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := newPosting("k", base)
	p.FreezeContext(map[string]any{}, base)
	p = create(t, s, p)
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			delta := domain.Counters{Sent: 1}
			if i%3 == 0 {
				delta = domain.Counters{Skipped: 1}
			}
			if _, _, err := s.AddOutcomes(ctx, p.ID, delta, base.Add(time.Second)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		_, err := s.Update(ctx, p.ID, func(p *domain.Posting) error {
			return p.RecordPage(1, n, true, base.Add(time.Second))
		})
		if err != nil {
			t.Error(err)
		}
	})
	wg.Wait()

	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, domain.Counters{Recipients: n, Sent: 20, Skipped: 10}, got.Counters)
	require.Equal(t, domain.StatusCompleted, got.Status, "whichever write came last settled it")
	require.NotNil(t, got.CompletedAt)
}

func testCopies(t *testing.T, s domain.Store) {
	ctx := context.Background()
	p := newPosting("k", base)
	created := create(t, s, p)
	p.TemplateContext["movies"] = "changed by the caller after Create"
	created.Channels[0] = "pigeon"

	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, "http://fastapi/api/v1/movies/?new=True", got.TemplateContext["movies"])
	require.Equal(t, []string{posting.ChannelEmail}, got.Channels)

	got.TemplateContext["movies"] = "changed after Get"
	again, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, "http://fastapi/api/v1/movies/?new=True", again.TemplateContext["movies"])
}

func testList(t *testing.T, s domain.Store) {
	ctx := context.Background()
	var all []domain.Posting // oldest first
	for i := range 7 {
		p := newPosting(fmt.Sprintf("k%d", i), base.Add(time.Duration(i)*time.Second))
		if i%2 == 1 {
			p.FromEvent = "evt-2"
			p.NotificationType = "promo"
		}
		if i == 5 {
			p.Status = domain.StatusCancelled
		}
		all = append(all, create(t, s, p))
	}
	twin := newPosting("twin", all[3].CreatedAt) // same instant: ordered by id
	all = append(all, create(t, s, twin))

	ids := func(ps []domain.Posting) []uuid.UUID {
		out := make([]uuid.UUID, len(ps))
		for i, p := range ps {
			out[i] = p.ID
		}
		return out
	}

	// Walk everything three at a time.
	var walked []domain.Posting
	var after *domain.Cursor
	for {
		page, err := s.List(ctx, domain.ListQuery{Limit: 3, After: after})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 3)
		walked = append(walked, page...)
		if len(page) < 3 {
			break
		}
		c := domain.CursorOf(page[len(page)-1])
		after = &c
	}
	require.Len(t, walked, len(all))
	for i := 1; i < len(walked); i++ {
		prev, cur := walked[i-1], walked[i]
		require.True(t, domain.CursorOf(prev).Before(cur), "item %d comes after item %d", i, i-1)
	}
	require.Equal(t, all[6].ID, walked[0].ID, "newest first")
	require.Equal(t, all[0].ID, walked[len(walked)-1].ID, "oldest last")

	byEvent, err := s.List(ctx, domain.ListQuery{FromEvent: "evt-2", Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{all[5].ID, all[3].ID, all[1].ID}, ids(byEvent))

	byType, err := s.List(ctx, domain.ListQuery{NotificationType: "promo", Status: domain.StatusAccepted, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{all[3].ID, all[1].ID}, ids(byType))

	byStatus, err := s.List(ctx, domain.ListQuery{Status: domain.StatusCancelled, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{all[5].ID}, ids(byStatus))

	none, err := s.List(ctx, domain.ListQuery{FromEvent: "nobody", Limit: 10})
	require.NoError(t, err)
	require.Empty(t, none)
}

func testListDue(t *testing.T, s domain.Store) {
	ctx := context.Background()
	now := base.Add(time.Hour)
	scheduled := func(key string, at time.Time) domain.Posting {
		sp := spec(key)
		sp.SendAt = &at
		p := domain.New(uuid.New(), sp, base)
		require.Equal(t, domain.StatusScheduled, p.Status)
		return create(t, s, p)
	}
	late := scheduled("late", now.Add(-time.Minute))
	onTime := scheduled("on-time", now)
	earliest := scheduled("earliest", now.Add(-time.Hour+time.Second))
	scheduled("future", now.Add(time.Second))
	released := scheduled("released", now.Add(-2*time.Minute))
	_, err := s.Update(ctx, released.ID, func(p *domain.Posting) error {
		p.Release(now)
		return nil
	})
	require.NoError(t, err)
	create(t, s, newPosting("not-scheduled", base))

	due, err := s.ListDue(ctx, now, 10)
	require.NoError(t, err)
	require.Len(t, due, 3)
	require.Equal(t, []uuid.UUID{earliest.ID, late.ID, onTime.ID}, []uuid.UUID{due[0].ID, due[1].ID, due[2].ID})

	two, err := s.ListDue(ctx, now, 2)
	require.NoError(t, err)
	require.Len(t, two, 2)
	require.Equal(t, earliest.ID, two[0].ID)
}
