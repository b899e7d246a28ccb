package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/eventintake/internal/intaketest"
)

func TestTheBriefsFourEventsDecodeIntoTheirDetails(t *testing.T) {
	t.Parallel()
	cases := map[string]domain.Details{
		"user_signed_up": domain.UserSignedUp{Username: "user@mail.com", User: intaketest.UserURL},
		"new_movies":     domain.NewMovies{Movies: []string{intaketest.MovieURL}},
		"new_episode":    domain.NewEpisode{Series: []domain.Series{{URL: intaketest.SeriesURL, ID: intaketest.SeriesID}}},
		"reactions_summary": domain.ReactionsSummary{Stats: []domain.ReactionStat{
			{Type: "like", Total: 7, Target: intaketest.ReviewURL, ReviewID: intaketest.ReviewID},
		}},
	}
	for eventType, want := range cases {
		t.Run(eventType, func(t *testing.T) {
			t.Parallel()
			ev, err := domain.DecodeEvent(intaketest.Event(t, eventType))
			require.NoError(t, err)
			require.Equal(t, eventType, ev.Type)
			require.Equal(t, domain.ExpectedService(eventType), ev.FromService)
			require.Equal(t, want, ev.Details)
			require.Equal(t, eventType, ev.Details.EventType())
			require.Empty(t, ev.ID)
			require.Nil(t, ev.OccurredAt)
		})
	}
}

func TestOptionalEnvelopeFieldsAreReadAndUnknownOnesIgnored(t *testing.T) {
	t.Parallel()
	ev, err := domain.DecodeEvent([]byte(`{
		"event_id": "evt-1", "occurred_at": "2026-03-01T10:00:00+03:00", "trace_id": "abc",
		"from_service": "cinema_scanner", "event": "new_movies",
		"details": {"movies": ["http://fastapi/api/v1/movies/1/"], "source": "scanner-2"}}`))
	require.NoError(t, err)
	require.Equal(t, "evt-1", ev.ID)
	require.NotNil(t, ev.OccurredAt)
	require.True(t, ev.OccurredAt.Equal(time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)))
}

func TestEventsThatCannotBeHandledAreRejectedNamingTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, payload, field, reason string
	}{
		{"not an object", `["user_signed_up"]`, "", "must be a JSON object"},
		{"null", `null`, "", "must be a JSON object"},
		{"missing from_service", `{"event": "new_movies", "details": {"movies": ["http://f/m/1"]}}`, "from_service", "is required"},
		{"blank from_service", `{"from_service": " ", "event": "new_movies", "details": {"movies": ["http://f/m/1"]}}`, "from_service", "must not be blank"},
		{"missing event", `{"from_service": "auth", "details": {}}`, "event", "is required"},
		{"event not a string", `{"from_service": "auth", "event": 7, "details": {}}`, "event", "must be a string"},
		{"unknown event", `{"from_service": "auth", "event": "user_deleted", "details": {}}`, "event", `unknown event type "user_deleted"`},
		{"missing details", `{"from_service": "auth", "event": "user_signed_up"}`, "details", "is required"},
		{"details null", `{"from_service": "auth", "event": "user_signed_up", "details": null}`, "details", "is required"},
		{"details a list", `{"from_service": "auth", "event": "user_signed_up", "details": ["https://auth/api/v1/users/1/"]}`, "details", "must be an object"},
		{"details a string", `{"from_service": "auth", "event": "user_signed_up", "details": "https://auth/api/v1/users/1/"}`, "details", "must be an object"},
		{"user missing", `{"from_service": "auth", "event": "user_signed_up", "details": {"username": "u"}}`, "details.user", "is required"},
		{"user not a URL", `{"from_service": "auth", "event": "user_signed_up", "details": {"user": "6f1c2a57"}}`, "details.user", "must be an absolute http(s) URL"},
		{"user on another scheme", `{"from_service": "auth", "event": "user_signed_up", "details": {"user": "file:///etc/passwd"}}`, "details.user", "must be an absolute http(s) URL"},
		{"username not a string", `{"from_service": "auth", "event": "user_signed_up", "details": {"user": "https://auth/api/v1/users/1/", "username": 5}}`, "details.username", "must be a string"},
		{"movies empty", `{"from_service": "cinema_scanner", "event": "new_movies", "details": {"movies": []}}`, "details.movies", "must not be empty"},
		{"movies an object", `{"from_service": "cinema_scanner", "event": "new_movies", "details": {"movies": {"a": 1}}}`, "details.movies", "must be an array"},
		{"movie not a URL", `{"from_service": "cinema_scanner", "event": "new_movies", "details": {"movies": ["http://f/m/1", "Dune"]}}`, "details.movies[1]", "must be an absolute http(s) URL"},
		{"series missing", `{"from_service": "fastapi", "event": "new_episode", "details": {}}`, "details.series", "is required"},
		{"series without an id", `{"from_service": "fastapi", "event": "new_episode", "details": {"series": ["https://fastapi/"]}}`, "details.series[0]", "must end with an identifier"},
		{"series id with odd characters", `{"from_service": "fastapi", "event": "new_episode", "details": {"series": ["https://fastapi/api/v1/series/a&b=c/"]}}`, "details.series[0]", "must end with an identifier made of"},
		{"stats item not an object", `{"from_service": "activity_api", "event": "reactions_summary", "details": {"stats": ["like"]}}`, "details.stats[0]", "must be an object"},
		{"stats type missing", `{"from_service": "activity_api", "event": "reactions_summary", "details": {"stats": [{"total": 1, "target": "https://activity_api/api/v1/reviews/1"}]}}`, "details.stats[0].type", "is required"},
		{"stats total a string", `{"from_service": "activity_api", "event": "reactions_summary", "details": {"stats": [{"type": "like", "total": "7", "target": "https://activity_api/api/v1/reviews/1"}]}}`, "details.stats[0].total", "must be a number"},
		{"stats total a fraction", `{"from_service": "activity_api", "event": "reactions_summary", "details": {"stats": [{"type": "like", "total": 1.5, "target": "https://activity_api/api/v1/reviews/1"}]}}`, "details.stats[0].total", "must be a whole number"},
		{"stats total negative", `{"from_service": "activity_api", "event": "reactions_summary", "details": {"stats": [{"type": "like", "total": -1, "target": "https://activity_api/api/v1/reviews/1"}]}}`, "details.stats[0].total", "must not be negative"},
		{"stats target missing", `{"from_service": "activity_api", "event": "reactions_summary", "details": {"stats": [{"type": "like", "total": 1}, {}]}}`, "details.stats[0].target", "is required"},
		{"event_id not a string", `{"event_id": 42, "from_service": "auth", "event": "user_signed_up", "details": {"user": "https://auth/api/v1/users/1/"}}`, "event_id", "must be a string"},
		{"event_id blank", `{"event_id": "  ", "from_service": "auth", "event": "user_signed_up", "details": {"user": "https://auth/api/v1/users/1/"}}`, "event_id", "must not be blank"},
		{"occurred_at not a time", `{"occurred_at": "yesterday", "from_service": "auth", "event": "user_signed_up", "details": {"user": "https://auth/api/v1/users/1/"}}`, "occurred_at", "RFC 3339"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := domain.DecodeEvent([]byte(tc.payload))
			var invalid *domain.InvalidEventError
			require.ErrorAs(t, err, &invalid)
			require.Equal(t, tc.field, invalid.Field)
			require.Contains(t, invalid.Reason, tc.reason)
			require.NotErrorIs(t, err, domain.ErrMalformedJSON)
		})
	}
}

func TestMalformedJSONIsToldApartFromAnInvalidEvent(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{``, `{`, `{"event": "new_movies",}`, `not json`, `{"a":1}{"b":2}`} {
		_, err := domain.DecodeEvent([]byte(payload))
		require.ErrorIs(t, err, domain.ErrMalformedJSON, "payload %q", payload)
		var invalid *domain.InvalidEventError
		require.False(t, errors.As(err, &invalid))
	}
}

func TestRejectionReasonsDoNotQuoteDetails(t *testing.T) {
	t.Parallel()
	_, err := domain.DecodeEvent([]byte(`{"from_service": "auth", "event": "user_signed_up", "details": {"user": "ivan.petrov@mail.ru"}}`))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "ivan")
}
