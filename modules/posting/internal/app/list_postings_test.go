package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting/internal/app"
)

func TestListingPagesNewestFirstUntilNoCursorIsLeft(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	list, err := app.NewListPostingsHandler(w.store)
	require.NoError(t, err)
	var ids []string
	for i := range 5 {
		cmd := newMoviesCmd(fmt.Sprintf("k%d", i))
		if i%2 == 0 {
			cmd.FromEvent = "even"
		}
		ids = append(ids, w.mustCreate(t, cmd).ID.String())
		w.clock.Advance(time.Second)
	}
	ctx := context.Background()

	var walked []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		page, err := list.Handle(ctx, app.ListPostings{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		for _, p := range page.Items {
			walked = append(walked, p.ID.String())
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, walked)

	even, err := list.Handle(ctx, app.ListPostings{FromEvent: "even"})
	require.NoError(t, err)
	require.Len(t, even.Items, 3)
	require.Empty(t, even.NextCursor)

	for _, bad := range []app.ListPostings{
		{Status: "sleeping"}, {Limit: 201}, {Limit: -1}, {Cursor: "garbage!"},
		{FromEvent: "e\x00"}, {NotificationType: "\xff"}, // PostgreSQL could not even compare them
	} {
		_, err := list.Handle(ctx, bad)
		require.Equal(t, app.CodeInvalid, app.ErrorCodeOf(err), "%+v", bad)
	}
}
