package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// listUser returns every row of a user, page by page.
func listUser(t *testing.T, s app.Store, user string, q app.UserListQuery) [][]domain.Delivery {
	t.Helper()
	var pages [][]domain.Delivery
	for i := 0; ; i++ {
		require.Less(t, i, 1000, "the cursor never ends")
		page, err := s.ListByUser(context.Background(), user, q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Items), q.Limit)
		pages = append(pages, page.Items)
		if page.NextCursor == "" {
			return pages
		}
		require.NotEmpty(t, page.Items, "a page with a next cursor has rows")
		q.Cursor = page.NextCursor
	}
}

func flatten(pages [][]domain.Delivery) []domain.Key {
	var keys []domain.Key
	for _, p := range pages {
		keys = append(keys, keysOf(p)...)
	}
	return keys
}

func listByUserPagesNewestFirstAcrossPostings(t *testing.T, s app.Store) {
	ctx := context.Background()
	// Three postings for u1 at two times (p2 and p3 in the same second),
	// with rows of other users in the same batches.
	_, err := s.InsertPending(ctx, []domain.Key{key("p1", "u1", "email"), key("p1", "u2", "email"), key("p1", "u1", "sms")}, base)
	require.NoError(t, err)
	later := base.Add(time.Hour)
	_, err = s.InsertPending(ctx, []domain.Key{key("p3", "u1", "email"), key("p2", "u1", "email"), key("p2", "u0", "sms")}, later)
	require.NoError(t, err)
	_, err = s.InsertPending(ctx, []domain.Key{key("p2", "u1", "sms")}, later)
	require.NoError(t, err)

	pages := listUser(t, s, "u1", app.UserListQuery{Limit: 2})
	require.Equal(t, []domain.Key{
		key("p3", "u1", "email"), key("p2", "u1", "sms"), key("p2", "u1", "email"),
		key("p1", "u1", "sms"), key("p1", "u1", "email"),
	}, flatten(pages), "newest first, then posting and channel descending; every row once, no other user")
	require.Len(t, pages, 3)
	require.True(t, pages[0][0].CreatedAt.Equal(later))

	// A newer row inserted between two pages does not shift the next one:
	// the cursor continues after the last row seen.
	first, err := s.ListByUser(ctx, "u1", app.UserListQuery{Limit: 2})
	require.NoError(t, err)
	_, err = s.InsertPending(ctx, []domain.Key{key("p4", "u1", "email")}, later.Add(time.Hour))
	require.NoError(t, err)
	rest, err := s.ListByUser(ctx, "u1", app.UserListQuery{Limit: 10, Cursor: first.NextCursor})
	require.NoError(t, err)
	require.Equal(t, []domain.Key{key("p2", "u1", "email"), key("p1", "u1", "sms"), key("p1", "u1", "email")}, keysOf(rest.Items))
	require.Empty(t, rest.NextCursor)

	// A row's updates do not move it: the order is by creation.
	mustFinish(t, s, key("p1", "u1", "email"), delivery.StatusSent)
	all := listUser(t, s, "u1", app.UserListQuery{Limit: 10})
	require.Len(t, all, 1)
	require.Equal(t, key("p1", "u1", "email"), all[0][5].Key)
	require.Equal(t, delivery.StatusSent, all[0][5].Status)

	none, err := s.ListByUser(ctx, "nobody", app.UserListQuery{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, none.Items)
	require.Empty(t, none.NextCursor)
}

func listByUserFiltersByStatusAndChannel(t *testing.T, s app.Store) {
	ctx := context.Background()
	var keys []domain.Key
	for i, p := range []string{"p1", "p2", "p3", "p4", "p5"} {
		k := []domain.Key{key(p, "u1", "email"), key(p, "u1", "sms")}
		_, err := s.InsertPending(ctx, k, base.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
		keys = append(keys, k...)
	}
	// keys: p1 email, p1 sms, p2 email, …, p5 sms.
	for _, i := range []int{0, 1, 4, 8} {
		mustFinish(t, s, keys[i], delivery.StatusSent)
	}
	mustFinish(t, s, keys[6], delivery.StatusFailed)

	sent := listUser(t, s, "u1", app.UserListQuery{Status: delivery.StatusSent, Limit: 2})
	require.Equal(t, []domain.Key{keys[8], keys[4], keys[1], keys[0]}, flatten(sent))
	require.Len(t, sent, 2)

	sentEmail := listUser(t, s, "u1", app.UserListQuery{Status: delivery.StatusSent, Channel: domain.ChannelEmail, Limit: 10})
	require.Equal(t, []domain.Key{keys[8], keys[4], keys[0]}, flatten(sentEmail))

	sms := listUser(t, s, "u1", app.UserListQuery{Channel: domain.ChannelSMS, Limit: 3})
	require.Equal(t, []domain.Key{keys[9], keys[7], keys[5], keys[3], keys[1]}, flatten(sms))

	failed := listUser(t, s, "u1", app.UserListQuery{Status: delivery.StatusFailed, Limit: 10})
	require.Len(t, failed, 1)
	require.Equal(t, keys[6], failed[0][0].Key)
	require.Equal(t, "reason failed", failed[0][0].Error)

	none := listUser(t, s, "u1", app.UserListQuery{Status: delivery.StatusCancelled, Limit: 10})
	require.Len(t, none, 1)
	require.Empty(t, none[0])
}

func listByUserRefusesAForeignCursor(t *testing.T, s app.Store) {
	ctx := context.Background()
	for _, cursor := range []string{
		"not a cursor!",
		app.EncodeCursor(key("p1", "u1", "email")), // a posting's listing's
		"bm90LWEtdGltZQBwMQBlbWFpbA",               // "not-a-time\x00p1\x00email"
	} {
		_, err := s.ListByUser(ctx, "u1", app.UserListQuery{Limit: 10, Cursor: cursor})
		require.ErrorIs(t, err, app.ErrInvalidCursor, cursor)
	}
}
