package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

func TestNewMailingIsAcceptedWithDefaultsAndStartsItsAudienceWalk(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)

	p := w.mustCreate(t, newMoviesCmd("k-1"))

	require.Equal(t, domain.StatusAccepted, p.Status)
	require.Equal(t, "new_movies", p.NotificationType, "defaults to the template's base name")
	require.Equal(t, posting.PriorityBulk, p.Priority, "a group goes on the bulk lane")
	require.Equal(t, 1, p.NextPage)
	require.Equal(t, []app.ExpandAudience{{PostingID: p.ID.String(), Page: 1, Priority: p.Priority}}, w.commands.expandCommands())
	require.Equal(t, "posting.ExpandAudience.v1", app.ExpandAudience{}.Name())
}

func TestPhoneCodeForOneUserGoesOnTheTransactionalLane(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	user := demodirectory.GenerateUsers(1)[0]

	for _, receivers := range []string{
		"http://auth/api/v1/users/?id=" + user.ID,
		"https://auth/api/v1/users/" + user.ID + "/",
	} {
		p := w.mustCreate(t, posting.CreatePosting{
			FromEvent:       "evt-" + receivers,
			Receivers:       receivers,
			Template:        "sms/phone_confirmation.md",
			DeliveryType:    []string{posting.ChannelSMS},
			TemplateContext: map[string]any{"secret_code": "1234"},
		})
		require.Equal(t, posting.PriorityTransactional, p.Priority, receivers)
		require.Equal(t, "phone_confirmation", p.NotificationType)
	}
}

func TestSameIdempotencyKeyTwiceMakesOnePostingAndSendsNothingAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()

	first, created, err := w.create.Handle(ctx, newMoviesCmd("event:e1:new_movies"))
	require.NoError(t, err)
	require.True(t, created)
	again, created, err := w.create.Handle(ctx, newMoviesCmd("event:e1:new_movies"))
	require.NoError(t, err)
	require.False(t, created)

	require.Equal(t, first.ID, again.ID)
	require.Len(t, w.commands.all(), 1, "the walk was started once")
	all, err := w.store.List(ctx, domain.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, all, 1)
}

func TestRequestWithoutKeyIsDeduplicatedByItsContent(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()

	first, _, err := w.create.Handle(ctx, newMoviesCmd(""))
	require.NoError(t, err)
	again, created, err := w.create.Handle(ctx, newMoviesCmd(""))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first.ID, again.ID)
	require.True(t, strings.HasPrefix(first.IdempotencyKey, "sha256:"))

	other := newMoviesCmd("")
	other.FromEvent = "another-event"
	third, created, err := w.create.Handle(ctx, other)
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, first.ID, third.ID)
}

func TestPostingAlreadyStaleIsStoredExpiredAndNeverExpanded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	cmd := newMoviesCmd("k")
	past := start.Add(-time.Second)
	cmd.ExpiresAt = &past

	p := w.mustCreate(t, cmd)

	require.Equal(t, domain.StatusExpired, p.Status)
	require.NotNil(t, p.CompletedAt)
	require.Empty(t, w.commands.all())
}

func TestPostingWithAFutureSendAtWaitsScheduled(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	cmd := newMoviesCmd("k")
	later := start.Add(time.Hour)
	cmd.SendAt = &later

	p := w.mustCreate(t, cmd)

	require.Equal(t, domain.StatusScheduled, p.Status)
	require.Empty(t, w.commands.all())
}

func TestInvalidPostingsAreRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	hour := start.Add(time.Hour)
	tests := []struct {
		name   string
		change func(*posting.CreatePosting)
		field  string
	}{
		{"no receivers", func(c *posting.CreatePosting) { c.Receivers = "" }, "receivers"},
		{"receivers on a host not configured", func(c *posting.CreatePosting) { c.Receivers = "http://evil.example/api/v1/users/" }, "receivers"},
		{"receivers not a URL", func(c *posting.CreatePosting) { c.Receivers = "auth users" }, "receivers"},
		{"no channel", func(c *posting.CreatePosting) { c.DeliveryType = nil }, "delivery_type"},
		{"unknown channel", func(c *posting.CreatePosting) { c.DeliveryType = []string{"pigeon"} }, "delivery_type"},
		{"no template", func(c *posting.CreatePosting) { c.Template = "" }, "template"},
		{"unknown template", func(c *posting.CreatePosting) { c.Template = "email/nope.md" }, "template"},
		{"template outside the channel directories", func(c *posting.CreatePosting) { c.Template = "layouts/email.html" }, "template"},
		{"no sms twin of the email template", func(c *posting.CreatePosting) {
			c.DeliveryType = []string{posting.ChannelEmail, posting.ChannelSMS}
		}, "template"},
		{"unknown priority", func(c *posting.CreatePosting) { c.Priority = "urgent" }, "priority"},
		{"notification type with spaces", func(c *posting.CreatePosting) { c.NotificationType = "New Movies" }, "notification_type"},
		{"huge template context", func(c *posting.CreatePosting) {
			c.TemplateContext = map[string]any{"blob": strings.Repeat("x", app.MaxTemplateContextBytes)}
		}, "template_context"},
		{"send_at after expiry", func(c *posting.CreatePosting) {
			later := hour.Add(time.Minute)
			c.ExpiresAt, c.SendAt = &hour, &later
		}, "send_at"},
		{"huge idempotency key", func(c *posting.CreatePosting) { c.IdempotencyKey = strings.Repeat("k", 300) }, "idempotency_key"},
		{"idempotency key with a NUL", func(c *posting.CreatePosting) { c.IdempotencyKey = "k\x00" }, "idempotency_key"},
		{"huge request fingerprint", func(c *posting.CreatePosting) { c.RequestFingerprint = strings.Repeat("f", 300) }, "request_fingerprint"},
		{"request fingerprint not UTF-8", func(c *posting.CreatePosting) { c.RequestFingerprint = "\xff" }, "request_fingerprint"},
		{"from_event not UTF-8", func(c *posting.CreatePosting) { c.FromEvent = "\xff\xfe" }, "from_event"},
		{"template context with a NUL deep inside", func(c *posting.CreatePosting) {
			c.TemplateContext = map[string]any{"movies": []any{map[string]any{"title": "a\x00b"}}}
		}, "template_context"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newMoviesCmd("k-" + tc.name)
			tc.change(&cmd)
			_, _, err := w.create.Handle(context.Background(), cmd)
			var appErr *app.Error
			require.ErrorAs(t, err, &appErr)
			require.Equal(t, app.CodeInvalid, appErr.Code)
			require.Equal(t, tc.field, appErr.Field, appErr.Message)
		})
	}
	require.Empty(t, w.commands.all())
}

func TestAPostingNamesItsTemplateNotOneOfItsLocaleFiles(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	for _, name := range []string{"email/new_movies.en.md", "email/new_movies.ru.md", "email/new_movies.en_GB.md"} {
		cmd := newMoviesCmd("k-" + name)
		cmd.Template = name

		_, _, err := w.create.Handle(context.Background(), cmd)

		var appErr *app.Error
		require.ErrorAs(t, err, &appErr, name)
		require.Equal(t, app.CodeInvalid, appErr.Code)
		require.Equal(t, "template", appErr.Field)
		require.Contains(t, appErr.Message, `name "email/new_movies.md", each recipient gets the file of their locale`)
	}
	require.Empty(t, w.commands.all())

	p := w.mustCreate(t, newMoviesCmd("k-base"))
	require.Equal(t, "email/new_movies.md", p.Template, "the template's own name is what a posting keeps")
	require.Equal(t, "new_movies", p.NotificationType)
}

func TestConcurrentDuplicatesOfARequestStartOneWalk(t *testing.T) {
	t.Parallel()
	eachWorld(t, nil, func(t *testing.T, w *world) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, _, err := w.create.Handle(context.Background(), newMoviesCmd("event:e1:new_movies"))
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		require.Len(t, w.commands.expandCommands(), 1)
		all, err := w.store.List(context.Background(), domain.ListQuery{Limit: 10})
		require.NoError(t, err)
		require.Len(t, all, 1)
	})
}

func TestPhoneCodeResentWithANewCodeMakesANewPosting(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	code := func(secret string) posting.CreatePosting {
		return posting.CreatePosting{
			FromEvent:       "event_id", // the brief's own posting names no real event
			Receivers:       "http://auth/api/v1/users/?id=" + demodirectory.GenerateUsers(1)[0].ID,
			Template:        "sms/phone_confirmation.md",
			DeliveryType:    []string{posting.ChannelSMS},
			TemplateContext: map[string]any{"secret_code": secret},
		}
	}

	first := w.mustCreate(t, code("1234"))
	second := w.mustCreate(t, code("5678"))
	again, created, err := w.create.Handle(context.Background(), code("5678"))
	require.NoError(t, err)

	require.NotEqual(t, first.ID, second.ID, "the new code is a new request")
	require.False(t, created, "the same code twice is one posting")
	require.Equal(t, second.ID, again.ID)
	require.Len(t, w.commands.expandCommands(), 2)
}

func TestSameKeyWithADifferentRequestIsRefusedNamingTheKey(t *testing.T) {
	t.Parallel()
	eachWorld(t, nil, func(t *testing.T, w *world) {
		ctx := context.Background()
		first := w.mustCreate(t, newMoviesCmd("mailing-42"))
		other := newMoviesCmd("mailing-42")
		other.TemplateContext = map[string]any{"movies": "http://fastapi/api/v1/movies/?new=False"}

		_, _, err := w.create.Handle(ctx, other)

		var appErr *app.Error
		require.ErrorAs(t, err, &appErr)
		require.Equal(t, app.CodeKeyReused, appErr.Code)
		require.Equal(t, "idempotency_key", appErr.Field)
		require.Contains(t, appErr.Message, "different request")
		require.Len(t, w.commands.expandCommands(), 1, "nothing more was sent")
		all, err := w.store.List(ctx, domain.ListQuery{Limit: 10})
		require.NoError(t, err)
		require.Len(t, all, 1)
		again, created, err := w.create.Handle(ctx, newMoviesCmd("mailing-42"))
		require.NoError(t, err, "the first request still answers")
		require.False(t, created)
		require.Equal(t, first.ID, again.ID)
	})
}

func TestAKeyIsFreeAgainAfterTheRetentionAndItsPostingStays(t *testing.T) {
	t.Parallel()
	eachWorld(t, nil, func(t *testing.T, w *world) {
		ctx := context.Background()
		first := w.mustCreate(t, newMoviesCmd("daily-digest"))

		w.clock.Advance(app.DefaultIdempotencyRetention - time.Second)
		held, created, err := w.create.Handle(ctx, newMoviesCmd("daily-digest"))
		require.NoError(t, err)
		require.False(t, created, "within the retention the key answers")
		require.Equal(t, first.ID, held.ID)

		w.clock.Advance(time.Second)
		other := newMoviesCmd("daily-digest")
		other.TemplateContext = map[string]any{"movies": "http://fastapi/api/v1/movies/?new=False"}
		second, created, err := w.create.Handle(ctx, other)
		require.NoError(t, err, "an expired key may name a new request")
		require.True(t, created)
		require.NotEqual(t, first.ID, second.ID)

		old := w.get(t, first.ID)
		require.Equal(t, first.IdempotencyKey, old.IdempotencyKey, "the old posting stays readable")
		all, err := w.store.List(ctx, domain.ListQuery{Limit: 10})
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Len(t, w.commands.expandCommands(), 2)
	})
}

func TestTheRetentionIsConfigurableAndMustBePositive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	for _, d := range []time.Duration{0, -time.Hour} {
		_, err := app.NewCreatePostingHandler(w.store, w.tx, w.commands, w.events, templatesOf(t), w.client, w.clock, w.logger,
			app.WithIdempotencyRetention(d))
		require.ErrorContains(t, err, "retention", d)
	}
	short, err := app.NewCreatePostingHandler(w.store, w.tx, w.commands, w.events, templatesOf(t), w.client, w.clock, w.logger,
		app.WithIdempotencyRetention(time.Minute))
	require.NoError(t, err)
	ctx := context.Background()
	first, _, err := short.Handle(ctx, newMoviesCmd("k"))
	require.NoError(t, err)
	w.clock.Advance(time.Minute)
	second, created, err := short.Handle(ctx, newMoviesCmd("k"))
	require.NoError(t, err)
	require.True(t, created, "a minute later the key is free")
	require.NotEqual(t, first.ID, second.ID)
}

func TestScopesKeepTheSameKeyOfTwoCallersApart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()

	service, created, err := w.create.HandleFor(ctx, "api:service", newMoviesCmd("k"))
	require.NoError(t, err)
	require.True(t, created)
	manager, created, err := w.create.HandleFor(ctx, "api:manager", newMoviesCmd("k"))
	require.NoError(t, err)
	require.True(t, created, "another caller's key is another key")
	unscoped, created, err := w.create.Handle(ctx, newMoviesCmd("k"))
	require.NoError(t, err)
	require.True(t, created)

	require.Equal(t, "api:service:k", service.IdempotencyKey)
	require.Equal(t, "api:manager:k", manager.IdempotencyKey)
	require.Equal(t, "k", unscoped.IdempotencyKey)
	byDefault, _, err := w.create.HandleFor(ctx, "api:service", newMoviesCmd(""))
	require.NoError(t, err)
	require.Equal(t, "api:service:"+byDefault.RequestFingerprint, byDefault.IdempotencyKey, "without a key, the fingerprint")
}

func TestAGivenFingerprintStandsForTheRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	cmd := newMoviesCmd("")
	cmd.RequestFingerprint = "sha256:as-received"
	soon := start.Add(2 * time.Minute)
	cmd.ExpiresAt = &soon
	first := w.mustCreate(t, cmd)

	// A repeat received a second later computes a later expiry.
	later := soon.Add(time.Second)
	cmd.ExpiresAt = &later
	again, created, err := w.create.Handle(ctx, cmd)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first.ID, again.ID)
	require.Equal(t, "sha256:as-received", first.RequestFingerprint)

	// Without one, the expiry is part of the request.
	cmd.RequestFingerprint = ""
	third, created, err := w.create.Handle(ctx, cmd)
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, first.ID, third.ID)
}

func templatesOf(t *testing.T) *templating.Renderer {
	t.Helper()
	r, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	return r
}
