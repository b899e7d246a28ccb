// Package storetest is the contract every app.Store passes: the in-memory
// store and the PostgreSQL store. Call Run from the adapter's tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
		"ListByUserPagesNewestFirstAcrossPostings":           listByUserPagesNewestFirstAcrossPostings,
		"ListByUserFiltersByStatusAndChannel":                listByUserFiltersByStatusAndChannel,
		"ListByUserRefusesAForeignCursor":                    listByUserRefusesAForeignCursor,
		"CancelPostingCancelsPendingRowsOnceAndIsRemembered": cancelPostingCancelsPendingRows,
		"ConcurrentFinishesOfOneRowChangeItOnce":             concurrentFinishChangesOnce,
		"FinishManyFinishesPendingRowsOnly":                  finishManyFinishesPendingRowsOnly,
		"ReportPublishesFinalRowsOfTheScopeOnceInKeyOrder":   reportPublishesFinalRowsOnce,
		"ReportLeavesRowsUnreportedWhenPublishFails":         reportLeavesRowsUnreportedWhenPublishFails,
		"ReportOfAWholePostingGoesInChunks":                  reportOfAWholePostingGoesInChunks,
		"ConcurrentReportsPublishEachRowOnce":                concurrentReportsPublishEachRowOnce,
		"ABatchLeaseHasOneHolderUntilReleasedOrExpired":      batchLeaseHasOneHolder,
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
	row, changed, err := s.Finish(ctx, k, app.Final{Status: delivery.StatusSent, MessageID: k.MessageID(), Provider: "backup", Attempted: true, At: at})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, 2, row.Attempts)
	require.Equal(t, k.MessageID(), row.MessageID)
	require.Equal(t, "backup", row.Provider)
	require.Empty(t, row.Error, "a sent row keeps no error")
	require.True(t, row.SentAt.Equal(at))

	page, err := s.ListByPosting(ctx, "p1", app.ListQuery{Limit: 10})
	require.NoError(t, err)
	got := page.Items[0]
	require.Equal(t, delivery.StatusSent, got.Status)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, k.MessageID(), got.MessageID)
	require.Equal(t, "backup", got.Provider, "the record says which provider sent it")
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
	n, err := s.CancelPosting(ctx, "p1", at)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	cancelledRows := list(t, s, "p1", delivery.StatusCancelled, 10)
	require.Equal(t, []domain.Key{a, b}, keysOf(cancelledRows[0]))
	for _, r := range cancelledRows[0] {
		require.Equal(t, "posting cancelled", r.Error)
		require.True(t, r.UpdatedAt.Equal(at))
		require.False(t, r.Reported, "reported later, by Report")
	}
	cancelled, err = s.IsCancelled(ctx, "p1")
	require.NoError(t, err)
	require.True(t, cancelled)

	again, err := s.CancelPosting(ctx, "p1", at.Add(time.Minute))
	require.NoError(t, err)
	require.Zero(t, again, "a repeated cancellation changes nothing")

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
	require.Zero(t, none)
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
		n, err := s.CancelPosting(ctx, "p1", base)
		if err == nil {
			changes.Add(int32(n))
		}
	})
	wg.Wait()
	require.Equal(t, int32(1), changes.Load(), "exactly one transition wins")
}

func finishManyFinishesPendingRowsOnly(t *testing.T, s app.Store) {
	ctx := context.Background()
	done, a, b := key("p1", "u1", "email"), key("p1", "u2", "email"), key("p1", "u3", "sms")
	_, err := s.InsertPending(ctx, []domain.Key{done, a, b}, base)
	require.NoError(t, err)
	mustFinish(t, s, done, delivery.StatusSent)

	at := base.Add(time.Minute)
	n, err := s.FinishMany(ctx, []app.Transition{
		{Key: done, Final: app.Final{Status: delivery.StatusSkipped, Error: "too late", At: at}},
		{Key: a, Final: app.Final{Status: delivery.StatusSkipped, Error: "opted out", At: at}},
		{Key: b, Final: app.Final{Status: delivery.StatusCancelled, Error: "posting cancelled", Attempted: true, At: at}},
		{Key: key("p1", "nobody", "email"), Final: app.Final{Status: delivery.StatusSkipped, At: at}},
	})
	require.NoError(t, err)
	require.Equal(t, 2, n, "the sent row and the absent one are left alone")

	rows := list(t, s, "p1", "", 10)[0]
	require.Equal(t, delivery.StatusSent, rows[0].Status)
	require.Equal(t, delivery.StatusSkipped, rows[1].Status)
	require.Equal(t, "opted out", rows[1].Error)
	require.Zero(t, rows[1].Attempts)
	require.True(t, rows[1].UpdatedAt.Equal(at))
	require.Equal(t, delivery.StatusCancelled, rows[2].Status)
	require.Equal(t, 1, rows[2].Attempts)

	_, err = s.FinishMany(ctx, []app.Transition{{Key: a, Final: app.Final{Status: delivery.StatusPending, At: at}}})
	require.Error(t, err, "pending is not final")
	n, err = s.FinishMany(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, n)
}

// recorder is a publish callback that keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	chunks [][]domain.Delivery
}

func (r *recorder) publish(_ context.Context, rows []domain.Delivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chunks = append(r.chunks, slices.Clone(rows))
	return nil
}

func (r *recorder) keys() []domain.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []domain.Key
	for _, c := range r.chunks {
		out = append(out, keysOf(c)...)
	}
	return out
}

func reportPublishesFinalRowsOnce(t *testing.T, s app.Store) {
	ctx := context.Background()
	sent, failed, pending, outside := key("p1", "u2", "email"), key("p1", "u1", "sms"), key("p1", "u3", "email"), key("p1", "u4", "email")
	other := key("p2", "u1", "email")
	_, err := s.InsertPending(ctx, []domain.Key{sent, failed, pending, outside, other}, base)
	require.NoError(t, err)
	mustFinish(t, s, sent, delivery.StatusSent)
	mustFinish(t, s, failed, delivery.StatusFailed)
	mustFinish(t, s, outside, delivery.StatusSent)
	mustFinish(t, s, other, delivery.StatusSent)

	batch := []domain.Key{sent, failed, pending, sent, other}
	var r recorder
	n, err := s.Report(ctx, app.ReportScope{PostingID: "p1", Keys: batch}, r.publish)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, r.chunks, 1, "no chunk size: one publish")
	require.Equal(t, []domain.Key{failed, sent}, r.keys(),
		"final rows of the batch only, by user id then channel; not the pending row, not a row outside the batch or of another posting")
	require.Equal(t, "reason failed", r.chunks[0][0].Error)
	require.True(t, r.chunks[0][0].UpdatedAt.Equal(base.Add(time.Minute)))

	n, err = s.Report(ctx, app.ReportScope{PostingID: "p1", Keys: batch}, r.publish)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Len(t, r.chunks, 1, "nothing to report: publish is not called")

	rows := list(t, s, "p1", "", 10)[0]
	reported := map[domain.Key]bool{}
	for _, row := range rows {
		reported[row.Key] = row.Reported
	}
	require.Equal(t, map[domain.Key]bool{sent: true, failed: true, pending: false, outside: false}, reported)

	// The pending row becomes final later: the next report has it alone.
	mustFinish(t, s, pending, delivery.StatusExpired)
	n, err = s.Report(ctx, app.ReportScope{PostingID: "p1", Keys: batch}, r.publish)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []domain.Key{failed, sent, pending}, r.keys())

	n, err = s.Report(ctx, app.ReportScope{PostingID: "p1", Keys: []domain.Key{}}, r.publish)
	require.NoError(t, err)
	require.Zero(t, n, "an empty batch reports nothing")
}

func reportLeavesRowsUnreportedWhenPublishFails(t *testing.T, s app.Store) {
	ctx := context.Background()
	k := key("p1", "u1", "email")
	_, err := s.InsertPending(ctx, []domain.Key{k}, base)
	require.NoError(t, err)
	mustFinish(t, s, k, delivery.StatusSent)

	boom := errors.New("broker down")
	n, err := s.Report(ctx, app.ReportScope{PostingID: "p1", Keys: []domain.Key{k}}, func(context.Context, []domain.Delivery) error { return boom })
	require.ErrorIs(t, err, boom)
	require.Zero(t, n)
	require.False(t, list(t, s, "p1", "", 10)[0][0].Reported)

	var r recorder
	n, err = s.Report(ctx, app.ReportScope{PostingID: "p1", Keys: []domain.Key{k}}, r.publish)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []domain.Key{k}, r.keys(), "the next report has it")
}

func reportOfAWholePostingGoesInChunks(t *testing.T, s app.Store) {
	ctx := context.Background()
	var keys []domain.Key
	for i := range 7 {
		keys = append(keys, key("p1", fmt.Sprintf("u%d", i), "email"))
	}
	_, err := s.InsertPending(ctx, append(slices.Clone(keys), key("p2", "u0", "email")), base)
	require.NoError(t, err)
	mustFinish(t, s, key("p2", "u0", "email"), delivery.StatusSent)
	for _, k := range keys[:5] {
		mustFinish(t, s, k, delivery.StatusSent)
	}
	_, err = s.CancelPosting(ctx, "p1", base.Add(time.Hour))
	require.NoError(t, err)

	var r recorder
	n, err := s.Report(ctx, app.ReportScope{PostingID: "p1", Chunk: 3}, r.publish)
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.Len(t, r.chunks, 3)
	require.Equal(t, []int{3, 3, 1}, []int{len(r.chunks[0]), len(r.chunks[1]), len(r.chunks[2])})
	require.Equal(t, keys, r.keys(), "every final row of the posting once, none of another posting")

	n, err = s.Report(ctx, app.ReportScope{PostingID: "p1", Chunk: 3}, r.publish)
	require.NoError(t, err)
	require.Zero(t, n)
}

func concurrentReportsPublishEachRowOnce(t *testing.T, s app.Store) {
	ctx := context.Background()
	var keys []domain.Key
	for i := range 20 {
		keys = append(keys, key("p1", fmt.Sprintf("u%02d", i), "email"))
	}
	_, err := s.InsertPending(ctx, keys, base)
	require.NoError(t, err)
	for _, k := range keys {
		mustFinish(t, s, k, delivery.StatusSent)
	}

	var r recorder
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			scope := app.ReportScope{PostingID: "p1", Keys: keys[i:]}
			if i%2 == 0 {
				scope = app.ReportScope{PostingID: "p1", Chunk: 5} // a cancellation's report
			}
			_, err := s.Report(ctx, scope, r.publish)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	got := r.keys()
	slices.SortFunc(got, func(a, b domain.Key) int { return strings.Compare(a.UserID, b.UserID) })
	require.Equal(t, keys, got, "every row reported exactly once")
}

func batchLeaseHasOneHolder(t *testing.T, s app.Store) {
	ctx := context.Background()
	batch := app.BatchKey{PostingID: "p1", Lane: "bulk", BatchNo: 3}
	other := app.BatchKey{PostingID: "p1", Lane: "bulk", BatchNo: 4}
	lease := func(b app.BatchKey, holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.LeaseBatch(ctx, b, holder, ttl)
		require.NoError(t, err)
		return ok
	}
	require.True(t, lease(batch, "a", time.Minute))
	require.False(t, lease(batch, "b", time.Minute), "held by a")
	require.True(t, lease(batch, "a", time.Minute), "a renews its own")
	require.True(t, lease(other, "b", time.Minute), "another batch is another lease")

	require.NoError(t, s.ReleaseBatch(ctx, batch, "b"), "b does not hold it: nothing happens")
	require.False(t, lease(batch, "b", time.Minute))
	require.NoError(t, s.ReleaseBatch(ctx, batch, "a"))
	require.True(t, lease(batch, "b", 500*time.Millisecond), "released, free")

	// b's lease runs out without a renewal: a takes it over.
	require.False(t, lease(batch, "a", time.Minute))
	require.Eventually(t, func() bool { return lease(batch, "a", time.Minute) }, 10*time.Second, 50*time.Millisecond)
	require.False(t, lease(batch, "b", time.Minute), "a holds it now")
}
