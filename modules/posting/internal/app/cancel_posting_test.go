package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/demodirectory"
)

func TestCancelledMailingPublishesItsCancellationAndStopsItsWalk(t *testing.T) {
	t.Parallel()
	w := newWorld(t, demodirectory.GenerateUsers(1234))
	p := w.mustCreate(t, newMoviesCmd("k"))
	ctx := context.Background()
	w.commands.take()
	require.NoError(t, w.expand.Handle(ctx, app.ExpandAudience{PostingID: p.ID.String(), Page: 1}))
	w.clock.Advance(time.Minute)

	cancelled, err := w.cancel.Handle(ctx, p.ID.String())

	require.NoError(t, err)
	require.Equal(t, domain.StatusCancelled, cancelled.Status)
	require.Equal(t, start.Add(time.Minute), *cancelled.CompletedAt)
	require.Contains(t, w.events.all(), posting.PostingCancelled{
		PostingID: p.ID.String(), CancelledAt: start.Add(time.Minute), Priority: posting.PriorityBulk,
	}, "the event names the lane, for the deliveries' metrics")
	w.walk(t)
	require.Len(t, w.events.batches(), 1, "no page after the cancellation")
	require.Equal(t, domain.StatusCancelled, w.get(t, p.ID).Status)
}

func TestCancellingAFinishedPostingIsAConflict(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	p := w.mustCreate(t, newMoviesCmd("k"))
	ctx := context.Background()
	_, err := w.cancel.Handle(ctx, p.ID.String())
	require.NoError(t, err)
	published := len(w.events.all())

	_, err = w.cancel.Handle(ctx, p.ID.String())

	require.Equal(t, app.CodeConflict, app.ErrorCodeOf(err))
	require.Len(t, w.events.all(), published, "nothing published again")
}

func TestCancellingAnUnknownPostingIsNotFound(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	for _, id := range []string{"2b0e7c1a-0000-4000-8000-000000000000", "not-a-uuid"} {
		_, err := w.cancel.Handle(context.Background(), id)
		require.Equal(t, app.CodeNotFound, app.ErrorCodeOf(err), id)
	}
}

func TestCancelledScheduledPostingIsNeverReleased(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	cmd := newMoviesCmd("k")
	at := start.Add(time.Minute)
	cmd.SendAt = &at
	p := w.mustCreate(t, cmd)
	_, err := w.cancel.Handle(context.Background(), p.ID.String())
	require.NoError(t, err)

	w.clock.Advance(time.Hour)
	require.NoError(t, w.sched.Tick(context.Background()))

	require.Empty(t, w.commands.all())
	require.Equal(t, domain.StatusCancelled, w.get(t, p.ID).Status)
}
