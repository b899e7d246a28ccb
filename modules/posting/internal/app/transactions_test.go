package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/demodirectory"
)

// These tests run the use cases on PostgreSQL with buses that write in the
// store's transaction, as the outbox does: a state change and the messages
// it causes exist together or not at all.

func TestPostingIsNotStoredWithoutItsFirstPageCommand(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t, nil)
	ctx := context.Background()
	w.commands.failNextCall()

	_, _, err := w.create.Handle(ctx, newMoviesCmd("k"))

	require.Error(t, err, "the command could not be written: retry me")
	stored, err := w.store.List(ctx, domain.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, stored, "the posting went with its command")

	p, created, err := w.create.Handle(ctx, newMoviesCmd("k"))
	require.NoError(t, err)
	require.True(t, created, "the retry creates it")
	_, created, err = w.create.Handle(ctx, newMoviesCmd("k"))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, []app.ExpandAudience{{PostingID: p.ID.String(), Page: 1, Priority: p.Priority}}, w.commands.expandCommands())
}

func TestCancellationIsNotStoredWithoutItsEvent(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t, nil)
	ctx := context.Background()
	p := w.mustCreate(t, newMoviesCmd("k"))
	w.events.failNextCall()

	_, err := w.cancel.Handle(ctx, p.ID.String())

	require.Error(t, err)
	require.Equal(t, domain.StatusAccepted, w.get(t, p.ID).Status)
	cancelled, err := w.cancel.Handle(ctx, p.ID.String())
	require.NoError(t, err)
	require.Equal(t, domain.StatusCancelled, cancelled.Status)
	require.Equal(t, []any{
		posting.PostingCancelled{PostingID: p.ID.String(), CancelledAt: start, Priority: posting.PriorityBulk},
		posting.PostingFinished{PostingID: p.ID.String(), Status: posting.StatusCancelled, NotificationType: p.NotificationType,
			FromEvent: p.FromEvent, Priority: posting.PriorityBulk, FinishedAt: start},
	}, w.events.all())
}

func TestAudiencePageIsRecordedOnlyWithItsBatchAndTheNextPageCommand(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(1234)
	w := newPostgresWorld(t, users)
	ctx := context.Background()
	p := w.mustCreate(t, newMoviesCmd("k"))
	w.commands.take()
	page1 := app.ExpandAudience{PostingID: p.ID.String(), Page: 1}
	w.commands.failNextCall() // the command for page 2

	require.Error(t, w.expand.Handle(ctx, page1))

	got := w.get(t, p.ID)
	require.Equal(t, 1, got.NextPage, "the cursor did not move")
	require.Zero(t, got.Counters.Recipients)
	require.False(t, got.ContextResolved, "nor was the context frozen")
	require.Empty(t, w.events.batches(), "the batch went with the cursor")

	require.NoError(t, w.expand.Handle(ctx, page1)) // the redelivery
	require.Len(t, w.events.batches(), 1)
	require.Equal(t, []app.ExpandAudience{{PostingID: p.ID.String(), Page: 2, Priority: p.Priority}}, w.commands.expandCommands())
	w.walk(t)
	seen := map[string]int{}
	for _, b := range w.events.batches() {
		for _, r := range b.Recipients {
			seen[r.UserID]++
		}
	}
	require.Len(t, seen, len(users))
	for id, n := range seen {
		require.Equal(t, 1, n, id)
	}
	require.Equal(t, domain.StatusDispatching, w.get(t, p.ID).Status)
}

func TestAudienceWalkCommitsWithTheMessageHandlersUnitOfWork(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t, demodirectory.GenerateUsers(3))
	p := w.mustCreate(t, newMoviesCmd("k"))
	w.commands.take()
	page1 := app.ExpandAudience{PostingID: p.ID.String(), Page: 1}

	// The router's unit of work: a later failure rolls the page back.
	ctx, finish := db.Begin(context.Background(), w.pool)
	require.NoError(t, w.expand.Handle(ctx, page1))
	require.Empty(t, w.events.batches(), "nothing is visible before the commit")
	boom := errors.New("the handler failed after the use case")
	require.ErrorIs(t, finish(boom), boom)
	require.Equal(t, 1, w.get(t, p.ID).NextPage)
	require.Empty(t, w.events.batches())

	ctx, finish = db.Begin(context.Background(), w.pool)
	require.NoError(t, w.expand.Handle(ctx, page1))
	require.NoError(t, finish(nil))
	require.Len(t, w.events.batches(), 1)
	require.True(t, w.get(t, p.ID).WalkDone)
}

func TestScheduledPostingIsReleasedOnlyWithItsFirstPageCommand(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t, nil)
	ctx := context.Background()
	cmd := newMoviesCmd("k")
	at := start.Add(time.Minute)
	cmd.SendAt = &at
	p := w.mustCreate(t, cmd)
	w.clock.Advance(time.Minute)
	w.commands.failNextCall()

	require.Error(t, w.sched.Tick(ctx))
	require.Equal(t, domain.StatusScheduled, w.get(t, p.ID).Status, "still scheduled")
	require.Empty(t, w.commands.all())

	require.NoError(t, w.sched.Tick(ctx))
	require.Equal(t, domain.StatusAccepted, w.get(t, p.ID).Status)
	require.Equal(t, []app.ExpandAudience{{PostingID: p.ID.String(), Page: 1, Priority: p.Priority}}, w.commands.expandCommands())
}

func TestOutcomesAppliedConcurrentlyAreEachCountedOnce(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(40)
	eachWorld(t, users, func(t *testing.T, w *world) {
		p := walkedMailing(t, w)
		require.Equal(t, len(users), p.Counters.Recipients)

		var wg sync.WaitGroup
		for i, u := range users {
			status := delivery.StatusSent
			if i%4 == 0 {
				status = delivery.StatusSkipped
			}
			wg.Go(func() {
				err := w.outcomes.Handle(context.Background(), outcomes(p.ID, []demodirectory.User{u}, posting.ChannelSMS, status))
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()

		got := w.get(t, p.ID)
		require.Equal(t, domain.Counters{Recipients: 40, Sent: 30, Skipped: 10}, got.Counters)
		require.Equal(t, domain.StatusCompleted, got.Status)
	})
}
