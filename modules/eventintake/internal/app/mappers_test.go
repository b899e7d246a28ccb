package app_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/modules/eventintake/internal/intaketest"
	"github.com/notifier/notifier/modules/posting"
)

func TestUserSignedUpAsksForAWelcomeEmailToThatUser(t *testing.T) {
	t.Parallel()
	c, sender, _ := newConsumer(t)

	require.NoError(t, c.Handle(context.Background(), intaketest.Event(t, "user_signed_up"), "msg-1"))

	require.Equal(t, []posting.CreatePosting{{
		IdempotencyKey:   "event:msg-1:eventintake.WelcomeOnUserSignedUp",
		FromEvent:        "msg-1",
		FromService:      "auth",
		NotificationType: posting.TypeWelcome,
		Receivers:        intaketest.UserURL,
		Template:         "email/welcome.md",
		DeliveryType:     []string{posting.ChannelEmail},
		TemplateContext:  map[string]any{"username": "user@mail.com", "user_url": intaketest.UserURL},
		Priority:         posting.PriorityTransactional,
	}}, sender.sent())
}

func TestNewMoviesAsksForOneMailingToTheConfiguredReceivers(t *testing.T) {
	t.Parallel()
	c, sender, _ := newConsumer(t)

	require.NoError(t, c.Handle(context.Background(), intaketest.Event(t, "new_movies"), "msg-2"))

	require.Equal(t, []posting.CreatePosting{{
		IdempotencyKey:   "event:msg-2:eventintake.AnnounceMoviesOnNewMovies",
		FromEvent:        "msg-2",
		FromService:      "cinema_scanner",
		NotificationType: posting.TypeNewMovies,
		Receivers:        "http://auth/api/v1/users/?is_active=True&email_notifications=True",
		Template:         "email/new_movies.md",
		DeliveryType:     []string{posting.ChannelEmail},
		TemplateContext:  map[string]any{"movies": []string{intaketest.MovieURL}},
		Priority:         posting.PriorityBulk,
	}}, sender.sent())
}

func TestNewEpisodeAsksForOnePostingPerSeriesToItsSubscribers(t *testing.T) {
	t.Parallel()
	c, sender, _ := newConsumer(t)

	require.NoError(t, c.Handle(context.Background(), intaketest.Event(t, "new_episode"), "msg-3"))
	require.Equal(t, []posting.CreatePosting{{
		IdempotencyKey:   "event:msg-3:eventintake.AnnounceEpisodeOnNewEpisode:" + intaketest.SeriesID,
		FromEvent:        "msg-3",
		FromService:      "fastapi",
		NotificationType: posting.TypeNewEpisode,
		Receivers:        "http://auth/api/v1/users/?is_active=True&subscribed_series=" + intaketest.SeriesID,
		Template:         "email/new_episode.md",
		DeliveryType:     []string{posting.ChannelEmail},
		TemplateContext:  map[string]any{"series": intaketest.SeriesURL, "series_url": intaketest.SeriesURL},
		Priority:         posting.PriorityBulk,
	}}, sender.sent())
}

func TestNewEpisodeOfSeveralSeriesMakesOnePostingEachAndListingOneTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	c, sender, _ := newConsumer(t)

	payload := `{"from_service": "fastapi", "event": "new_episode", "details": {"series": [
		"https://fastapi/api/v1/series/s-1/", "https://fastapi/api/v1/series/s-2", "https://fastapi/api/v1/series/s-1/"]}}`
	require.NoError(t, c.Handle(context.Background(), []byte(payload), "msg-4"))

	cmds := sender.sent()
	require.Len(t, cmds, 2)
	require.Equal(t, "event:msg-4:eventintake.AnnounceEpisodeOnNewEpisode:s-1", cmds[0].IdempotencyKey)
	require.Equal(t, "http://auth/api/v1/users/?is_active=True&subscribed_series=s-1", cmds[0].Receivers)
	require.Equal(t, "https://fastapi/api/v1/series/s-1/", cmds[0].TemplateContext["series_url"])
	require.Equal(t, "event:msg-4:eventintake.AnnounceEpisodeOnNewEpisode:s-2", cmds[1].IdempotencyKey)
	require.Equal(t, "http://auth/api/v1/users/?is_active=True&subscribed_series=s-2", cmds[1].Receivers)
	require.Equal(t, "https://fastapi/api/v1/series/s-2", cmds[1].TemplateContext["series"])
}

func TestReactionsSummaryTellsEachReviewAuthorAboutTheirReactions(t *testing.T) {
	t.Parallel()
	c, sender, _ := newConsumer(t)

	require.NoError(t, c.Handle(context.Background(), intaketest.Event(t, "reactions_summary"), "msg-5"))
	require.Equal(t, []posting.CreatePosting{{
		IdempotencyKey:   "event:msg-5:eventintake.ReportReactionsOnReactionsSummary:42:like",
		FromEvent:        "msg-5",
		FromService:      "activity_api",
		NotificationType: posting.TypeReactions,
		Receivers:        "http://auth/api/v1/users/?review_id=42",
		Template:         "email/reactions_summary.md",
		DeliveryType:     []string{posting.ChannelEmail},
		TemplateContext: map[string]any{
			"reaction_type": "like", "total": 7, "target_url": intaketest.ReviewURL, "review": intaketest.ReviewURL,
		},
		Priority: posting.PriorityBulk,
	}}, sender.sent())
}

func TestLikesAndDislikesOfOneReviewMakeTwoPostings(t *testing.T) {
	t.Parallel()
	c, sender, _ := newConsumer(t)

	payload := `{"from_service": "activity_api", "event": "reactions_summary", "details": {"stats": [
		{"type": "like", "total": 7, "target": "https://activity_api/api/v1/reviews/42"},
		{"type": "dislike", "total": 2, "target": "https://activity_api/api/v1/reviews/42"},
		{"type": "like", "total": 1, "target": "https://activity_api/api/v1/reviews/43"}]}}`
	require.NoError(t, c.Handle(context.Background(), []byte(payload), "msg-6"))

	var keys, receivers []string
	for _, cmd := range sender.sent() {
		keys = append(keys, cmd.IdempotencyKey)
		receivers = append(receivers, cmd.Receivers)
	}
	require.Equal(t, []string{
		"event:msg-6:eventintake.ReportReactionsOnReactionsSummary:42:like",
		"event:msg-6:eventintake.ReportReactionsOnReactionsSummary:42:dislike",
		"event:msg-6:eventintake.ReportReactionsOnReactionsSummary:43:like",
	}, keys)
	require.Equal(t, []string{
		"http://auth/api/v1/users/?review_id=42",
		"http://auth/api/v1/users/?review_id=42",
		"http://auth/api/v1/users/?review_id=43",
	}, receivers)
}

func TestTheSameEventMapsToTheSamePostingKeysSoARepeatIsHarmless(t *testing.T) {
	t.Parallel()
	c, sender, _ := newConsumer(t)
	payload := intaketest.Event(t, "user_signed_up")

	require.NoError(t, c.Handle(context.Background(), payload, ""))
	require.NoError(t, c.Handle(context.Background(), payload, ""))

	cmds := sender.sent()
	require.Len(t, cmds, 2)
	require.Equal(t, cmds[0], cmds[1])
	require.Regexp(t, `^event:[0-9a-f]{64}:eventintake.WelcomeOnUserSignedUp$`, cmds[0].IdempotencyKey)
}

func TestIdempotencyKeyNamesTheEventTheHandlerAndThePart(t *testing.T) {
	t.Parallel()
	require.Equal(t, "event:k:h", app.IdempotencyKey("k", "h", ""))
	require.Equal(t, "event:k:h:s-1", app.IdempotencyKey("k", "h", "s-1"))
}
