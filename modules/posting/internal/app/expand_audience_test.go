package app_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/demodirectory"
)

func TestMailingToADirectoryOf1234UsersIsPublishedInThreePagesWithEveryUserOnce(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(1234)
	w := newWorld(t, users)
	p := w.mustCreate(t, newMoviesCmd("k"))
	ctx := context.Background()

	// The first page, on its own: the cursor is persisted before the next
	// page is asked for.
	first := w.commands.take()
	require.Equal(t, []any{app.ExpandAudience{PostingID: p.ID.String(), Page: 1, Priority: p.Priority}}, first)
	require.NoError(t, w.expand.Handle(ctx, app.ExpandAudience{PostingID: p.ID.String(), Page: 1}))
	afterOne := w.get(t, p.ID)
	require.Equal(t, 2, afterOne.NextPage)
	require.Equal(t, 500, afterOne.Counters.Recipients)
	require.Equal(t, domain.StatusDispatching, afterOne.Status)
	require.False(t, afterOne.WalkDone)

	w.walk(t)

	batches := w.events.batches()
	require.Len(t, batches, 3)
	seen := map[string]int{}
	for i, b := range batches {
		require.Equal(t, i+1, b.BatchNo)
		require.Equal(t, p.ID.String(), b.PostingID)
		require.Equal(t, []string{posting.ChannelEmail}, b.Channels)
		require.Equal(t, posting.PriorityBulk, b.Priority)
		require.Equal(t, "email/new_movies.md", b.Template)
		require.Equal(t, "new_movies", b.NotificationType)
		for _, r := range b.Recipients {
			seen[r.UserID]++
		}
	}
	require.Equal(t, []int{500, 500, 234}, []int{len(batches[0].Recipients), len(batches[1].Recipients), len(batches[2].Recipients)})
	require.Len(t, seen, len(users))
	for _, u := range users {
		require.Equal(t, 1, seen[u.ID], "user %s", u.Username)
	}

	done := w.get(t, p.ID)
	require.True(t, done.WalkDone)
	require.Equal(t, 4, done.NextPage)
	require.Equal(t, 1234, done.Counters.Recipients)
	require.Equal(t, domain.StatusDispatching, done.Status, "waiting for the deliveries")
	require.Equal(t, int32(3), w.auth.n.Load(), "one directory request per page")
}

func TestDirectoryPagingOverridesTheReceiversPagingAndCarriesTheFilters(t *testing.T) {
	t.Parallel()
	var queries []string
	auth := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"items": [], "page_number": 1, "page_size": 500, "total": 0}`))
	})
	w := newWorldWith(t, auth, http.NotFoundHandler())
	cmd := newMoviesCmd("k")
	cmd.Receivers = "http://auth/api/v1/users/?is_active=True&email_notifications=True&page_number=7&page_size=3"
	cmd.TemplateContext = nil
	w.mustCreate(t, cmd)

	w.walk(t)

	require.Equal(t, []string{"email_notifications=True&is_active=True&page_number=1&page_size=500"}, queries)
}

func TestRedeliveredAudiencePageIsNotPublishedAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t, demodirectory.GenerateUsers(1234))
	p := w.mustCreate(t, newMoviesCmd("k"))
	ctx := context.Background()
	w.walk(t)
	require.Len(t, w.events.batches(), 3)
	before := w.get(t, p.ID)

	for page := 1; page <= 3; page++ {
		require.NoError(t, w.expand.Handle(ctx, app.ExpandAudience{PostingID: p.ID.String(), Page: page}))
	}

	require.Len(t, w.events.batches(), 3, "no page published twice")
	require.Empty(t, w.commands.all(), "a finished walk asks for nothing")
	require.Equal(t, before, w.get(t, p.ID))
}

func TestRedeliveredLastRecordedPageAsksAgainForTheNextOneOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t, demodirectory.GenerateUsers(1234))
	p := w.mustCreate(t, newMoviesCmd("k"))
	ctx := context.Background()
	w.commands.take()
	page1 := app.ExpandAudience{PostingID: p.ID.String(), Page: 1}
	require.NoError(t, w.expand.Handle(ctx, page1))
	require.Len(t, w.commands.take(), 1)

	// The command for page 2 got lost; page 1 is redelivered.
	require.NoError(t, w.expand.Handle(ctx, page1))

	require.Len(t, w.events.batches(), 1, "page 1 is not published again")
	require.Equal(t, []app.ExpandAudience{{PostingID: p.ID.String(), Page: 2, Priority: p.Priority}}, w.commands.expandCommands())
	w.walk(t)
	require.Len(t, w.events.batches(), 3)
}

func TestSingleUserReceiversMakeOneBatchOfOne(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(3)
	target := users[1]
	for name, receivers := range map[string]string{
		"query id":  "http://auth/api/v1/users/?id=" + target.ID,
		"user path": "https://auth/api/v1/users/" + target.ID + "/",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, users)
			p := w.mustCreate(t, posting.CreatePosting{
				Receivers:       receivers,
				Template:        "email/email_confirmation.md",
				DeliveryType:    []string{posting.ChannelEmail},
				TemplateContext: map[string]any{"confirmation_link": "http://auth/abcDe4"},
			})

			w.walk(t)

			batches := w.events.batches()
			require.Len(t, batches, 1)
			require.Equal(t, posting.PriorityTransactional, batches[0].Priority)
			require.Equal(t, []posting.Recipient{{
				UserID: target.ID, Email: target.Email, Phone: target.Phone, Username: target.Username,
				FirstName: target.FirstName, Locale: target.Locale, Timezone: target.Timezone,
			}}, batches[0].Recipients)
			got := w.get(t, p.ID)
			require.True(t, got.WalkDone)
			require.Equal(t, 1, got.Counters.Recipients)
		})
	}
}

func TestTemplateContextIsFetchedOnceThenFrozenAndLinksAreKeptVerbatim(t *testing.T) {
	t.Parallel()
	w := newWorld(t, demodirectory.GenerateUsers(1234))
	cmd := newMoviesCmd("k")
	cmd.TemplateContext = map[string]any{
		"movies":            "http://fastapi/api/v1/movies/?new=True",
		"picks":             []any{"http://fastapi/api/v1/movies/m-2/", "http://fastapi/api/v1/movies/m-1/"},
		"confirmation_link": "http://auth/abcDe4",
		"catalogue_url":     "http://fastapi/api/v1/movies/?new=True",
		"site":              "https://cinema.example.com/api/v1/movies/",
		"greeting":          "Привет",
	}
	p := w.mustCreate(t, cmd)

	w.walk(t)

	require.Equal(t, int32(3), w.fastapi.n.Load(), "one fetch for movies, two for picks, for all three pages; catalogue_url is a link")
	batches := w.events.batches()
	require.Len(t, batches, 3)
	want := map[string]any{
		"movies":            []any{movieNew},
		"picks":             []any{movieOld, movieNew},
		"confirmation_link": "http://auth/abcDe4",
		"catalogue_url":     "http://fastapi/api/v1/movies/?new=True",
		"site":              "https://cinema.example.com/api/v1/movies/",
		"greeting":          "Привет",
	}
	for _, b := range batches {
		require.Equal(t, want, b.TemplateContext, "batch %d", b.BatchNo)
	}
	frozen := w.get(t, p.ID)
	require.True(t, frozen.ContextResolved)
	require.Equal(t, want, frozen.ResolvedContext)
	require.Equal(t, cmd.TemplateContext, frozen.TemplateContext, "the given context is kept as given")
	require.Equal(t, int32(3), w.auth.n.Load(), "http://auth/abcDe4 was never fetched")
}

func TestExpandingAfterExpiryMarksThePostingExpiredAndPublishesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, demodirectory.GenerateUsers(5))
	cmd := posting.CreatePosting{
		Receivers:       "http://auth/api/v1/users/?id=" + demodirectory.GenerateUsers(1)[0].ID,
		Template:        "sms/phone_confirmation.md",
		DeliveryType:    []string{posting.ChannelSMS},
		TemplateContext: map[string]any{"secret_code": "1234"},
	}
	expires := start.Add(120 * time.Second)
	cmd.ExpiresAt = &expires
	p := w.mustCreate(t, cmd)

	w.clock.Advance(121 * time.Second)
	w.walk(t)

	got := w.get(t, p.ID)
	require.Equal(t, domain.StatusExpired, got.Status)
	require.Equal(t, domain.Counters{}, got.Counters)
	require.Empty(t, w.events.batches())
	w.events.requireFinished(t, got, posting.StatusExpired)
	require.Zero(t, w.auth.n.Load(), "a stale posting fetches nothing")
}

func TestPostingThatExpiresMidWalkStopsWalking(t *testing.T) {
	t.Parallel()
	w := newWorld(t, demodirectory.GenerateUsers(1234))
	cmd := newMoviesCmd("k")
	expires := start.Add(time.Hour)
	cmd.ExpiresAt = &expires
	p := w.mustCreate(t, cmd)
	ctx := context.Background()
	w.commands.take()
	require.NoError(t, w.expand.Handle(ctx, app.ExpandAudience{PostingID: p.ID.String(), Page: 1}))

	w.clock.Advance(time.Hour)
	w.walk(t)

	require.Len(t, w.events.batches(), 1)
	require.Equal(t, domain.StatusExpired, w.get(t, p.ID).Status)
}

func TestTheReceiversURLAloneDecidesTheAudienceInactiveUsersIncluded(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(4)
	users[2].IsActive = false // signed up, not confirmed yet
	w := newWorld(t, users)
	cmd := newMoviesCmd("k")
	cmd.Receivers = "http://auth/api/v1/users/?id=" + users[2].ID
	p := w.mustCreate(t, cmd)

	w.walk(t)

	batches := w.events.batches()
	require.Len(t, batches, 1)
	require.Len(t, batches[0].Recipients, 1)
	require.Equal(t, users[2].ID, batches[0].Recipients[0].UserID)
	require.Equal(t, 1, w.get(t, p.ID).Counters.Recipients)
}

func TestEmptyAudienceCompletesAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, demodirectory.GenerateUsers(3))
	cmd := newMoviesCmd("k")
	cmd.Receivers = "http://auth/api/v1/users/?review_id=nobody-reviewed-this"
	p := w.mustCreate(t, cmd)

	w.walk(t)

	got := w.get(t, p.ID)
	require.Equal(t, domain.StatusCompleted, got.Status)
	require.NotNil(t, got.CompletedAt)
	require.Zero(t, got.Counters.Recipients)
	require.Empty(t, w.events.batches())
	w.events.requireFinished(t, got, posting.StatusCompleted)
}

func TestPermanentFetchFailuresFailThePostingWithAPublicReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		receivers string
		context   map[string]any
		reason    string
	}{
		{"unknown user", "http://auth/api/v1/users/" + "00000000-0000-4000-8000-000000000000" + "/", nil,
			"could not fetch the audience from the directory: not found"},
		{"directory refuses the query", "http://auth/api/v1/users/?colour=blue", nil,
			"could not fetch the audience from the directory: answered HTTP 400"},
		{"context URL not found", "http://auth/api/v1/users/", map[string]any{"movies": "http://fastapi/api/v1/movies/nope/"},
			`could not fetch template context "movies": not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, demodirectory.GenerateUsers(3))
			cmd := newMoviesCmd("k")
			cmd.Receivers, cmd.TemplateContext = tc.receivers, tc.context
			p := w.mustCreate(t, cmd)

			w.walk(t) // no error: nothing to retry

			got := w.get(t, p.ID)
			require.Equal(t, domain.StatusFailed, got.Status)
			require.Equal(t, tc.reason, got.Error)
			require.Empty(t, w.events.batches())
			e := w.events.requireFinished(t, got, posting.StatusFailed)
			require.Equal(t, tc.reason, e.Error, "the public reason travels with the event")
		})
	}
}

func TestDirectoryAnsweringSomethingElseFailsThePosting(t *testing.T) {
	t.Parallel()
	auth := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = rw.Write([]byte(`["not", "a", "page"]`))
	})
	w := newWorldWith(t, auth, http.NotFoundHandler())
	cmd := newMoviesCmd("k")
	cmd.TemplateContext = nil
	p := w.mustCreate(t, cmd)

	w.walk(t)

	got := w.get(t, p.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.Equal(t, "could not fetch the audience from the directory: answer is not the expected JSON", got.Error)
}

func TestTransientDirectoryFailureIsReturnedForARetry(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	users := demodirectory.GenerateUsers(2)
	demo := demodirectory.NewAuth(&demodirectory.Data{Users: users})
	auth := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if down.Load() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		demo.ServeHTTP(rw, r)
	})
	w := newWorldWith(t, auth, http.NotFoundHandler())
	cmd := newMoviesCmd("k")
	cmd.TemplateContext = nil
	p := w.mustCreate(t, cmd)
	page1 := app.ExpandAudience{PostingID: p.ID.String(), Page: 1}
	ctx := context.Background()

	require.Error(t, w.expand.Handle(ctx, page1))
	require.Equal(t, 1, w.get(t, p.ID).NextPage, "nothing recorded")
	require.Empty(t, w.events.all())

	down.Store(false)
	require.NoError(t, w.expand.Handle(ctx, page1))
	require.Len(t, w.events.batches(), 1)
	require.True(t, w.get(t, p.ID).WalkDone)
}

func TestExpandingAnUnknownPostingIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	err := w.expand.Handle(context.Background(), app.ExpandAudience{PostingID: "00000000-0000-4000-8000-000000000000", Page: 1})
	require.Equal(t, app.CodeNotFound, app.ErrorCodeOf(err))
	err = w.expand.Handle(context.Background(), app.ExpandAudience{PostingID: "nope", Page: 1})
	require.Equal(t, app.CodeInvalid, app.ErrorCodeOf(err))
}

func TestPostingThatGoesStaleWhileTheDirectoryAnswersIsNotPublished(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(1)
	var w *world
	demo := demodirectory.NewAuth(&demodirectory.Data{Users: users})
	slow := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.clock.Advance(121 * time.Second) // the directory takes its time
		demo.ServeHTTP(rw, r)
	})
	w = newWorldWith(t, slow, http.NotFoundHandler())
	expires := start.Add(120 * time.Second)
	p := w.mustCreate(t, posting.CreatePosting{
		Receivers:       "http://auth/api/v1/users/?id=" + users[0].ID,
		Template:        "sms/phone_confirmation.md",
		DeliveryType:    []string{posting.ChannelSMS},
		TemplateContext: map[string]any{"secret_code": "1234"},
		ExpiresAt:       &expires,
	})

	w.walk(t)

	require.Equal(t, int32(1), w.auth.n.Load())
	require.Equal(t, domain.StatusExpired, w.get(t, p.ID).Status)
	require.Empty(t, w.events.batches())
	w.events.requireFinished(t, p, posting.StatusExpired)
}
