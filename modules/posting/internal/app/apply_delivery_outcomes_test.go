package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/demodirectory"
)

func outcomes(id uuid.UUID, users []demodirectory.User, channel, status string) delivery.DeliveryOutcomes {
	e := delivery.DeliveryOutcomes{PostingID: id.String()}
	for _, u := range users {
		e.Outcomes = append(e.Outcomes, delivery.Outcome{UserID: u.ID, Channel: channel, Status: status, At: start})
	}
	return e
}

// walkedMailing creates an SMS mailing to every user and walks its
// audience.
func walkedMailing(t *testing.T, w *world) domain.Posting {
	t.Helper()
	p := w.mustCreate(t, posting.CreatePosting{
		Receivers:    "http://auth/api/v1/users/",
		Template:     "sms/phone_confirmation.md",
		DeliveryType: []string{posting.ChannelSMS},
	})
	w.walk(t)
	return w.get(t, p.ID)
}

func TestPostingCompletesWhenEveryDeliveryIsFinal(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(4)
	w := newWorld(t, users)
	p := walkedMailing(t, w)
	require.Equal(t, 4, p.Counters.Recipients)
	ctx := context.Background()

	require.NoError(t, w.outcomes.Handle(ctx, outcomes(p.ID, users[:2], posting.ChannelSMS, delivery.StatusSent)))
	require.Equal(t, domain.StatusDispatching, w.get(t, p.ID).Status, "two deliveries still pending")
	require.Empty(t, w.events.finished())

	require.NoError(t, w.outcomes.Handle(ctx, outcomes(p.ID, users[2:3], posting.ChannelSMS, delivery.StatusSkipped)))
	require.NoError(t, w.outcomes.Handle(ctx, outcomes(p.ID, users[3:], posting.ChannelSMS, delivery.StatusFailed)))

	got := w.get(t, p.ID)
	require.Equal(t, domain.StatusCompleted, got.Status)
	require.Equal(t, domain.Counters{Recipients: 4, Sent: 2, Skipped: 1, Failed: 1}, got.Counters)
	require.Equal(t, start, *got.CompletedAt)
	require.Equal(t, posting.PostingFinished{
		PostingID: p.ID.String(), Status: posting.StatusCompleted, NotificationType: p.NotificationType,
		Priority: p.Priority, FinishedAt: start,
		Counters: posting.Counters{Recipients: 4, Sent: 2, Skipped: 1, Failed: 1},
	}, w.events.requireFinished(t, p, posting.StatusCompleted))

	// Outcomes arriving later (the cancellation of nothing, a late copy)
	// still count, and finish nothing again.
	require.NoError(t, w.outcomes.Handle(ctx, outcomes(p.ID, users[:1], posting.ChannelSMS, delivery.StatusCancelled)))
	w.events.requireFinished(t, p, posting.StatusCompleted)
}

func TestPostingFinishedIsPublishedOnlyWithTheOutcomesThatFinishIt(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(2)
	w := newPostgresWorld(t, users)
	p := walkedMailing(t, w)
	ctx := context.Background()
	require.NoError(t, w.outcomes.Handle(ctx, outcomes(p.ID, users[:1], posting.ChannelSMS, delivery.StatusSent)))
	w.events.failNextCall()

	require.Error(t, w.outcomes.Handle(ctx, outcomes(p.ID, users[1:], posting.ChannelSMS, delivery.StatusSent)))

	require.Equal(t, domain.StatusDispatching, w.get(t, p.ID).Status, "the status went with its event")
	require.Empty(t, w.events.finished())
	require.NoError(t, w.outcomes.Handle(ctx, outcomes(p.ID, users[1:], posting.ChannelSMS, delivery.StatusSent)))
	require.Equal(t, domain.StatusCompleted, w.get(t, p.ID).Status)
	w.events.requireFinished(t, p, posting.StatusCompleted)
}

func TestAPostingExpiredOnArrivalIsReportedFinished(t *testing.T) {
	t.Parallel()
	eachWorld(t, nil, func(t *testing.T, w *world) {
		cmd := newMoviesCmd("k")
		past := start.Add(-time.Minute)
		cmd.ExpiresAt = &past
		p := w.mustCreate(t, cmd)
		require.Equal(t, domain.StatusExpired, p.Status)
		require.Empty(t, w.commands.expandCommands())
		w.events.requireFinished(t, p, posting.StatusExpired)

		_, created, err := w.create.Handle(context.Background(), cmd)
		require.NoError(t, err)
		require.False(t, created)
		w.events.requireFinished(t, p, posting.StatusExpired) // a repeat reports nothing
	})
}

func TestPostingWhoseDeliveriesAllWentStaleEndsExpired(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(2)
	w := newWorld(t, users)
	p := walkedMailing(t, w)

	require.NoError(t, w.outcomes.Handle(context.Background(), outcomes(p.ID, users[:1], posting.ChannelSMS, delivery.StatusExpired)))
	require.NoError(t, w.outcomes.Handle(context.Background(), outcomes(p.ID, users[1:], posting.ChannelSMS, delivery.StatusSkipped)))

	got := w.get(t, p.ID)
	require.Equal(t, domain.StatusExpired, got.Status)
	require.Equal(t, domain.Counters{Recipients: 2, Expired: 1, Skipped: 1}, got.Counters)
}

func TestOutcomesBeforeTheWalkEndsDoNotCompleteThePosting(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(1234)
	w := newWorld(t, users)
	p := w.mustCreate(t, newMoviesCmd("k"))
	w.commands.take()
	require.NoError(t, w.expand.Handle(context.Background(), app.ExpandAudience{PostingID: p.ID.String(), Page: 1}))
	first := w.events.batches()[0].Recipients
	var delivered []demodirectory.User
	for _, r := range first {
		delivered = append(delivered, demodirectory.User{ID: r.UserID})
	}

	require.NoError(t, w.outcomes.Handle(context.Background(), outcomes(p.ID, delivered, posting.ChannelEmail, delivery.StatusSent)))

	got := w.get(t, p.ID)
	require.Equal(t, domain.StatusDispatching, got.Status, "more pages to come")
	require.Equal(t, 500, got.Counters.Sent)
}

func TestOutcomesOfAnUnknownPostingAreRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	err := w.outcomes.Handle(context.Background(), delivery.DeliveryOutcomes{PostingID: uuid.NewString()})
	require.Equal(t, app.CodeNotFound, app.ErrorCodeOf(err))
}
