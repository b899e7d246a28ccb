// Package storetest is the contract every app.Store passes: the in-memory
// store now, the PostgreSQL store later. Call Run from the adapter's tests.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// base is a time every database keeps exactly (whole microseconds, UTC).
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the contract against stores made by newStore; each test gets its
// own store, and may run in parallel with the others.
func Run(t *testing.T, newStore func(t *testing.T) app.Store) {
	t.Helper()
	tests := map[string]func(t *testing.T, s app.Store){
		"InsertPendingCreatesPendingRowsInTheOrderGiven":     insertPendingCreatesPendingRows,
		"InsertPendingLeavesExistingRowsUntouched":           insertPendingLeavesExistingRows,
		"FinishChangesAPendingRowOnlyOnce":                   finishChangesOnce,
		"FinishSentRecordsMessageIDSentAtAndTheAttempt":      finishSentRecordsDetails,
		"FinishRefusesANonFinalStatus":                       finishRefusesPending,
		"RecordAttemptCountsFailuresOfPendingRowsOnly":       recordAttemptCountsPendingOnly,
		"ListByPostingPagesThroughEveryRowOnceInStableOrder": listPagesInStableOrder,
		"ListByPostingFiltersByStatus":                       listFiltersByStatus,
		"ListByPostingRefusesAForeignCursor":                 listRefusesForeignCursor,
		"CancelPostingCancelsPendingRowsOnceAndIsRemembered": cancelPostingCancelsPendingRows,
		"ConcurrentFinishesOfOneRowChangeItOnce":             concurrentFinishChangesOnce,
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newStore(t))
		})
	}
}

func key(posting, user, channel string) domain.Key {
	return domain.Key{PostingID: posting, UserID: user, Channel: channel}
}

func keysOf(rows []domain.Delivery) []domain.Key {
	out := make([]domain.Key, len(rows))
	for i, r := range rows {
		out[i] = r.Key
	}
	return out
}

func mustFinish(t *testing.T, s app.Store, k domain.Key, status string) domain.Delivery {
	t.Helper()
	row, changed, err := s.Finish(context.Background(), k, app.Final{Status: status, Error: "reason " + status, At: base.Add(time.Minute)})
	require.NoError(t, err)
	require.True(t, changed)
	return row
}

// list returns every row of a posting, page by page.
func list(t *testing.T, s app.Store, posting, status string, limit int) [][]domain.Delivery {
	t.Helper()
	var pages [][]domain.Delivery
	cursor := ""
	for i := 0; ; i++ {
		require.Less(t, i, 1000, "the cursor never ends")
		page, err := s.ListByPosting(context.Background(), posting, app.ListQuery{Status: status, Limit: limit, Cursor: cursor})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Items), limit)
		pages = append(pages, page.Items)
		if page.NextCursor == "" {
			return pages
		}
		require.NotEmpty(t, page.Items, "a page with a next cursor has rows")
		cursor = page.NextCursor
	}
}

func insertPendingCreatesPendingRows(t *testing.T, s app.Store) {
	ctx := context.Background()
	keys := []domain.Key{key("p1", "u2", "email"), key("p1", "u1", "sms"), key("p1", "u2", "email"), key("p1", "u1", "email")}

	rows, err := s.InsertPending(ctx, keys, base)
	require.NoError(t, err)
	require.Equal(t, []domain.Key{keys[0], keys[1], keys[3]}, keysOf(rows), "in the order given, a repeated key once")
	for _, r := range rows {
		require.Equal(t, delivery.StatusPending, r.Status)
		require.Zero(t, r.Attempts)
		require.Empty(t, r.Error)
		require.True(t, r.CreatedAt.Equal(base), "created_at")
		require.True(t, r.UpdatedAt.Equal(base), "updated_at")
		require.True(t, r.SentAt.IsZero())
	}

	again, err := s.InsertPending(ctx, keys, base.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, keysOf(rows), keysOf(again), "rows not final yet are still pending")
	require.True(t, again[0].CreatedAt.Equal(base), "a repeat does not touch created_at")

	_, err = s.InsertPending(ctx, []domain.Key{key("p1", "", "email")}, base)
	require.Error(t, err, "a key without a user is refused")
}

func insertPendingLeavesExistingRows(t *testing.T, s app.Store) {
	ctx := context.Background()
	sent, failed, fresh := key("p1", "u1", "email"), key("p1", "u2", "email"), key("p1", "u3", "email")
	_, err := s.InsertPending(ctx, []domain.Key{sent, failed}, base)
	require.NoError(t, err)
	mustFinish(t, s, sent, delivery.StatusSent)
	before := mustFinish(t, s, failed, delivery.StatusFailed)

	rows, err := s.InsertPending(ctx, []domain.Key{sent, failed, fresh}, base.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, []domain.Key{fresh}, keysOf(rows), "only what is not final yet comes back")

	all := list(t, s, "p1", "", 10)
	require.Len(t, all, 1)
	require.Equal(t, delivery.StatusSent, all[0][0].Status)
	require.Equal(t, before.Status, all[0][1].Status)
	require.Equal(t, before.Error, all[0][1].Error)
	require.True(t, all[0][1].CreatedAt.Equal(base))
}

func finishChangesOnce(t *testing.T, s app.Store) {
	ctx := context.Background()
	k := key("p1", "u1", "email")
	_, err := s.InsertPending(ctx, []domain.Key{k}, base)
	require.NoError(t, err)

	row, changed, err := s.Finish(ctx, k, app.Final{Status: delivery.StatusFailed, Error: "smtp: 550 5.1.1", Attempted: true, At: base.Add(time.Second)})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, delivery.StatusFailed, row.Status)
	require.Equal(t, "smtp: 550 5.1.1", row.Error)
	require.Equal(t, 1, row.Attempts)
	require.True(t, row.UpdatedAt.Equal(base.Add(time.Second)))

	_, changed, err = s.Finish(ctx, k, app.Final{Status: delivery.StatusSent, At: base.Add(2 * time.Second)})
	require.NoError(t, err)
	require.False(t, changed, "a final row stays as it is")
	page, err := s.ListByPosting(ctx, "p1", app.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, delivery.StatusFailed, page.Items[0].Status)

	_, changed, err = s.Finish(ctx, key("p1", "nobody", "email"), app.Final{Status: delivery.StatusSent, At: base})
	require.NoError(t, err)
	require.False(t, changed, "an absent row is not created")
}

func finishSentRecordsDetails(t *testing.T, s app.Store) {
	ctx := context.Background()
	k := key("p1", "u1", "email")
	_, err := s.InsertPending(ctx, []domain.Key{k}, base)
	require.NoError(t, err)
	ok, err := s.RecordAttempt(ctx, k, "smtp: 451 4.3.0", base.Add(time.Second))
	require.NoError(t, err)
	require.True(t, ok)

	at := base.Add(3 * time.Second)
	row, changed, err := s.Finish(ctx, k, app.Final{Status: delivery.StatusSent, MessageID: k.MessageID(), Attempted: true, At: at})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, 2, row.Attempts)
	require.Equal(t, k.MessageID(), row.MessageID)
	require.Empty(t, row.Error, "a sent row keeps no error")
	require.True(t, row.SentAt.Equal(at))

	page, err := s.ListByPosting(ctx, "p1", app.ListQuery{Limit: 10})
	require.NoError(t, err)
	got := page.Items[0]
	require.Equal(t, delivery.StatusSent, got.Status)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, k.MessageID(), got.MessageID)
	require.True(t, got.SentAt.Equal(at))
	require.True(t, got.CreatedAt.Equal(base))
	require.True(t, got.UpdatedAt.Equal(at))
}

func finishRefusesPending(t *testing.T, s app.Store) {
	ctx := context.Background()
	k := key("p1", "u1", "email")
	_, err := s.InsertPending(ctx, []domain.Key{k}, base)
	require.NoError(t, err)
	_, _, err = s.Finish(ctx, k, app.Final{Status: delivery.StatusPending, At: base})
	require.Error(t, err)
	_, _, err = s.Finish(ctx, k, app.Final{Status: "delivered", At: base})
	require.Error(t, err)
}

func recordAttemptCountsPendingOnly(t *testing.T, s app.Store) {
	ctx := context.Background()
	k := key("p1", "u1", "sms")
	_, err := s.InsertPending(ctx, []domain.Key{k}, base)
	require.NoError(t, err)
	for i := 1; i <= 2; i++ {
		ok, err := s.RecordAttempt(ctx, k, fmt.Sprintf("sms gateway: status 503 (%d)", i), base.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
		require.True(t, ok)
	}
	page, err := s.ListByPosting(ctx, "p1", app.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, delivery.StatusPending, page.Items[0].Status)
	require.Equal(t, 2, page.Items[0].Attempts)
	require.Equal(t, "sms gateway: status 503 (2)", page.Items[0].Error)
	require.True(t, page.Items[0].UpdatedAt.Equal(base.Add(2*time.Second)))

	mustFinish(t, s, k, delivery.StatusExpired)
	ok, err := s.RecordAttempt(ctx, k, "late", base.Add(time.Hour))
	require.NoError(t, err)
	require.False(t, ok, "a final row takes no more attempts")
	ok, err = s.RecordAttempt(ctx, key("p1", "nobody", "sms"), "x", base)
	require.NoError(t, err)
	require.False(t, ok)
}

func listPagesInStableOrder(t *testing.T, s app.Store) {
	ctx := context.Background()
	// Inserted out of order, in two batches, with a row of another posting.
	_, err := s.InsertPending(ctx, []domain.Key{key("p1", "u3", "email"), key("p1", "u1", "sms"), key("p2", "u0", "email")}, base)
	require.NoError(t, err)
	_, err = s.InsertPending(ctx, []domain.Key{key("p1", "u2", "email"), key("p1", "u1", "email")}, base)
	require.NoError(t, err)

	pages := list(t, s, "p1", "", 2)
	var got []domain.Key
	for _, p := range pages {
		got = append(got, keysOf(p)...)
	}
	require.Equal(t, []domain.Key{
		key("p1", "u1", "email"), key("p1", "u1", "sms"), key("p1", "u2", "email"), key("p1", "u3", "email"),
	}, got, "by user id then channel, every row once, no other posting")
	require.Len(t, pages[0], 2)

	// A row inserted between two pages shows up in its place; the cursor
	// still continues after the last row seen.
	first, err := s.ListByPosting(ctx, "p1", app.ListQuery{Limit: 2})
	require.NoError(t, err)
	_, err = s.InsertPending(ctx, []domain.Key{key("p1", "u0", "email"), key("p1", "u2", "sms")}, base)
	require.NoError(t, err)
	rest, err := s.ListByPosting(ctx, "p1", app.ListQuery{Limit: 10, Cursor: first.NextCursor})
	require.NoError(t, err)
	require.Equal(t, []domain.Key{key("p1", "u2", "email"), key("p1", "u2", "sms"), key("p1", "u3", "email")}, keysOf(rest.Items))
	require.Empty(t, rest.NextCursor)

	none, err := s.ListByPosting(ctx, "unknown", app.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, none.Items)
	require.Empty(t, none.NextCursor)
}

func listFiltersByStatus(t *testing.T, s app.Store) {
	ctx := context.Background()
	var keys []domain.Key
	for i := range 6 {
		keys = append(keys, key("p1", fmt.Sprintf("u%d", i), "email"))
	}
	_, err := s.InsertPending(ctx, keys, base)
	require.NoError(t, err)
	for _, i := range []int{0, 2, 3, 5} {
		mustFinish(t, s, keys[i], delivery.StatusSent)
	}
	mustFinish(t, s, keys[4], delivery.StatusFailed)

	pages := list(t, s, "p1", delivery.StatusSent, 3)
	require.Len(t, pages, 2)
	require.Equal(t, []domain.Key{keys[0], keys[2], keys[3]}, keysOf(pages[0]))
	require.Equal(t, []domain.Key{keys[5]}, keysOf(pages[1]))

	pending := list(t, s, "p1", delivery.StatusPending, 3)
	require.Equal(t, [][]domain.Delivery{{{Key: keys[1], Status: delivery.StatusPending, CreatedAt: pending[0][0].CreatedAt, UpdatedAt: pending[0][0].UpdatedAt}}}, pending)
}

func listRefusesForeignCursor(t *testing.T, s app.Store) {
	_, err := s.ListByPosting(context.Background(), "p1", app.ListQuery{Limit: 10, Cursor: "not a cursor!"})
	require.ErrorIs(t, err, app.ErrInvalidCursor)
}

func cancelPostingCancelsPendingRows(t *testing.T, s app.Store) {
	ctx := context.Background()
	sent, a, b, other := key("p1", "u1", "email"), key("p1", "u2", "email"), key("p1", "u3", "sms"), key("p2", "u1", "email")
	_, err := s.InsertPending(ctx, []domain.Key{sent, a, b, other}, base)
	require.NoError(t, err)
	mustFinish(t, s, sent, delivery.StatusSent)

	cancelled, err := s.IsCancelled(ctx, "p1")
	require.NoError(t, err)
	require.False(t, cancelled)

	at := base.Add(time.Hour)
	rows, err := s.CancelPosting(ctx, "p1", at)
	require.NoError(t, err)
	require.ElementsMatch(t, []domain.Key{a, b}, keysOf(rows))
	for _, r := range rows {
		require.Equal(t, delivery.StatusCancelled, r.Status)
		require.True(t, r.UpdatedAt.Equal(at))
	}
	cancelled, err = s.IsCancelled(ctx, "p1")
	require.NoError(t, err)
	require.True(t, cancelled)

	again, err := s.CancelPosting(ctx, "p1", at.Add(time.Minute))
	require.NoError(t, err)
	require.Empty(t, again, "a repeated cancellation changes nothing")

	sentRows := list(t, s, "p1", delivery.StatusSent, 10)
	require.Equal(t, []domain.Key{sent}, keysOf(sentRows[0]), "a sent row stays sent")

	otherCancelled, err := s.IsCancelled(ctx, "p2")
	require.NoError(t, err)
	require.False(t, otherCancelled)
	pending, err := s.InsertPending(ctx, []domain.Key{other}, base)
	require.NoError(t, err)
	require.Len(t, pending, 1, "another posting is untouched")

	// A posting cancelled before any of its batches arrived is remembered.
	none, err := s.CancelPosting(ctx, "p3", at)
	require.NoError(t, err)
	require.Empty(t, none)
	cancelled, err = s.IsCancelled(ctx, "p3")
	require.NoError(t, err)
	require.True(t, cancelled)
}

func concurrentFinishChangesOnce(t *testing.T, s app.Store) {
	ctx := context.Background()
	k := key("p1", "u1", "email")
	_, err := s.InsertPending(ctx, []domain.Key{k}, base)
	require.NoError(t, err)

	var wg sync.WaitGroup
	var changes atomic.Int32
	statuses := []string{delivery.StatusSent, delivery.StatusFailed, delivery.StatusExpired, delivery.StatusSkipped}
	for i := range 16 {
		wg.Go(func() {
			_, changed, err := s.Finish(ctx, k, app.Final{Status: statuses[i%len(statuses)], At: base})
			if err == nil && changed {
				changes.Add(1)
			}
		})
	}
	wg.Go(func() {
		rows, err := s.CancelPosting(ctx, "p1", base)
		if err == nil {
			changes.Add(int32(len(rows)))
		}
	})
	wg.Wait()
	require.Equal(t, int32(1), changes.Load(), "exactly one transition wins")
}
