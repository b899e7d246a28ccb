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
)

func TestNewMailingIsAcceptedWithDefaultsAndStartsItsAudienceWalk(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)

	p := w.mustCreate(t, newMoviesCmd("k-1"))

	require.Equal(t, domain.StatusAccepted, p.Status)
	require.Equal(t, "new_movies", p.NotificationType, "defaults to the template's base name")
	require.Equal(t, posting.PriorityBulk, p.Priority, "a group goes on the bulk lane")
	require.Equal(t, 1, p.NextPage)
	require.Equal(t, []app.ExpandAudience{{PostingID: p.ID.String(), Page: 1}}, w.commands.expandCommands())
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
