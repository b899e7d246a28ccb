package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// RunInbox runs the contract of app.InboxStore against stores made by
// newStore; each test gets its own store, and may run in parallel with the
// others.
func RunInbox(t *testing.T, newStore func(t *testing.T) app.InboxStore) {
	t.Helper()
	tests := map[string]func(t *testing.T, s app.InboxStore){
		"AddStoresAMessageOnce":                   inboxAddStoresOnce,
		"ListPagesNewestFirstWithTheUnreadCount":  inboxListPagesNewestFirst,
		"ListUnreadOnlyKeepsTheUnread":            inboxListUnreadOnly,
		"ListRefusesACursorItDidNotIssue":         inboxListRefusesForeignCursor,
		"MarkReadKeepsTheFirstReadTime":           inboxMarkReadKeepsFirst,
		"MarkReadOfAnotherUsersMessageIsNotFound": inboxMarkReadOtherUser,
		"ExpiredMessagesAreHiddenThenSwept":       inboxExpiredHiddenThenSwept,
		"SinceReturnsNewMessagesInOrderOfArrival": inboxSinceInOrder,
		"GetReturnsTheUsersOwnMessageOnly":        inboxGetOwnOnly,
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newStore(t))
		})
	}
}

var inboxEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// inboxMessage returns message n of user, created n seconds after the epoch.
func inboxMessage(user string, n int) domain.InboxMessage {
	return domain.InboxMessage{
		ID:     fmt.Sprintf("%032x", n),
		UserID: user, PostingID: fmt.Sprintf("p%d", n), NotificationType: "new_movies",
		Title: fmt.Sprintf("Title %d", n), Body: "**body**",
		CreatedAt: inboxEpoch.Add(time.Duration(n) * time.Second),
	}
}

func mustAdd(t *testing.T, s app.InboxStore, msgs ...domain.InboxMessage) {
	t.Helper()
	for _, m := range msgs {
		added, err := s.Add(context.Background(), m)
		require.NoError(t, err)
		require.True(t, added, m.ID)
	}
}

func ids(msgs []domain.InboxMessage) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func inboxAddStoresOnce(t *testing.T, s app.InboxStore) {
	ctx := context.Background()
	m := inboxMessage("u1", 1)
	expires := inboxEpoch.Add(time.Hour)
	m.ExpiresAt = &expires
	mustAdd(t, s, m)

	again := m
	again.Title = "changed"
	added, err := s.Add(ctx, again)
	require.NoError(t, err)
	assert.False(t, added, "the same delivery stores nothing twice")

	page, err := s.List(ctx, app.InboxQuery{UserID: "u1", Limit: 10, Now: inboxEpoch})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	assert.Equal(t, m, page.Items[0])
	assert.Equal(t, 1, page.Unread)
}

func inboxListPagesNewestFirst(t *testing.T, s app.InboxStore) {
	ctx := context.Background()
	for n := 1; n <= 5; n++ {
		mustAdd(t, s, inboxMessage("u1", n))
	}
	mustAdd(t, s, inboxMessage("u2", 6))
	// Two messages at the same time sort by id.
	same := inboxMessage("u1", 7)
	same.CreatedAt = inboxEpoch.Add(5 * time.Second)
	mustAdd(t, s, same)

	var got []string
	cursor := ""
	for range 10 {
		page, err := s.List(ctx, app.InboxQuery{UserID: "u1", Limit: 2, Cursor: cursor, Now: inboxEpoch})
		require.NoError(t, err)
		assert.Equal(t, 6, page.Unread)
		got = append(got, ids(page.Items)...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	assert.Equal(t, ids([]domain.InboxMessage{same, inboxMessage("u1", 5), inboxMessage("u1", 4),
		inboxMessage("u1", 3), inboxMessage("u1", 2), inboxMessage("u1", 1)}), got)

	empty, err := s.List(ctx, app.InboxQuery{UserID: "nobody", Limit: 2, Now: inboxEpoch})
	require.NoError(t, err)
	assert.Equal(t, app.InboxPage{Items: []domain.InboxMessage{}}, empty)
}

func inboxListUnreadOnly(t *testing.T, s app.InboxStore) {
	ctx := context.Background()
	mustAdd(t, s, inboxMessage("u1", 1), inboxMessage("u1", 2), inboxMessage("u1", 3))
	_, err := s.MarkRead(ctx, "u1", inboxMessage("u1", 2).ID, inboxEpoch.Add(time.Minute))
	require.NoError(t, err)

	page, err := s.List(ctx, app.InboxQuery{UserID: "u1", UnreadOnly: true, Limit: 10, Now: inboxEpoch})
	require.NoError(t, err)
	assert.Equal(t, []string{inboxMessage("u1", 3).ID, inboxMessage("u1", 1).ID}, ids(page.Items))
	assert.Equal(t, 2, page.Unread)
}

func inboxListRefusesForeignCursor(t *testing.T, s app.InboxStore) {
	for _, c := range []string{"!!", "bm90IGEgY3Vyc29y", app.EncodeUserCursor(domain.Delivery{Key: domain.Key{PostingID: "p", Channel: "inapp"}})} {
		_, err := s.List(context.Background(), app.InboxQuery{UserID: "u1", Limit: 10, Cursor: c, Now: inboxEpoch})
		assert.ErrorIs(t, err, app.ErrInvalidCursor, c)
	}
}

func inboxMarkReadKeepsFirst(t *testing.T, s app.InboxStore) {
	ctx := context.Background()
	m := inboxMessage("u1", 1)
	mustAdd(t, s, m)
	first := inboxEpoch.Add(time.Minute)

	read, err := s.MarkRead(ctx, "u1", m.ID, first)
	require.NoError(t, err)
	again, err := s.MarkRead(ctx, "u1", m.ID, first.Add(time.Hour))
	require.NoError(t, err)

	m.ReadAt = first
	assert.Equal(t, m, read)
	assert.Equal(t, m, again, "a second read changes nothing")
	page, err := s.List(ctx, app.InboxQuery{UserID: "u1", Limit: 10, Now: inboxEpoch})
	require.NoError(t, err)
	assert.Equal(t, 0, page.Unread)
}

func inboxMarkReadOtherUser(t *testing.T, s app.InboxStore) {
	ctx := context.Background()
	m := inboxMessage("u1", 1)
	mustAdd(t, s, m)

	_, err := s.MarkRead(ctx, "u2", m.ID, inboxEpoch)
	assert.ErrorIs(t, err, app.ErrInboxMessageNotFound)
	_, err = s.MarkRead(ctx, "u1", inboxMessage("u1", 2).ID, inboxEpoch)
	assert.ErrorIs(t, err, app.ErrInboxMessageNotFound)
	got, err := s.Get(ctx, "u1", m.ID, inboxEpoch)
	require.NoError(t, err)
	assert.False(t, got.Read())
}

func inboxExpiredHiddenThenSwept(t *testing.T, s app.InboxStore) {
	ctx := context.Background()
	stale, fresh := inboxMessage("u1", 1), inboxMessage("u1", 2)
	at := inboxEpoch.Add(time.Hour)
	stale.ExpiresAt = &at
	mustAdd(t, s, stale, fresh)

	before, err := s.List(ctx, app.InboxQuery{UserID: "u1", Limit: 10, Now: at.Add(-time.Second)})
	require.NoError(t, err)
	assert.Len(t, before.Items, 2)

	page, err := s.List(ctx, app.InboxQuery{UserID: "u1", Limit: 10, Now: at})
	require.NoError(t, err)
	assert.Equal(t, []string{fresh.ID}, ids(page.Items))
	assert.Equal(t, 1, page.Unread, "an expired message is not counted")
	_, err = s.MarkRead(ctx, "u1", stale.ID, at)
	assert.ErrorIs(t, err, app.ErrInboxMessageNotFound)
	_, err = s.Get(ctx, "u1", stale.ID, at)
	assert.ErrorIs(t, err, app.ErrInboxMessageNotFound)
	since, err := s.Since(ctx, "u1", inboxEpoch, at, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{fresh.ID}, ids(since))

	n, err := s.DeleteExpired(ctx, at.Add(-time.Second))
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = s.DeleteExpired(ctx, at)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.Get(ctx, "u1", stale.ID, inboxEpoch)
	assert.ErrorIs(t, err, app.ErrInboxMessageNotFound, "swept")
	added, err := s.Add(ctx, fresh)
	require.NoError(t, err)
	assert.False(t, added)
}

func inboxSinceInOrder(t *testing.T, s app.InboxStore) {
	ctx := context.Background()
	mustAdd(t, s, inboxMessage("u1", 3), inboxMessage("u1", 1), inboxMessage("u1", 2), inboxMessage("u2", 4))

	got, err := s.Since(ctx, "u1", inboxEpoch.Add(2*time.Second), inboxEpoch, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{inboxMessage("u1", 2).ID, inboxMessage("u1", 3).ID}, ids(got))

	got, err = s.Since(ctx, "u1", inboxEpoch, inboxEpoch, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{inboxMessage("u1", 1).ID, inboxMessage("u1", 2).ID}, ids(got))
}

func inboxGetOwnOnly(t *testing.T, s app.InboxStore) {
	ctx := context.Background()
	m := inboxMessage("u1", 1)
	mustAdd(t, s, m)

	got, err := s.Get(ctx, "u1", m.ID, inboxEpoch)
	require.NoError(t, err)
	assert.Equal(t, m, got)
	_, err = s.Get(ctx, "u2", m.ID, inboxEpoch)
	assert.ErrorIs(t, err, app.ErrInboxMessageNotFound)
}
