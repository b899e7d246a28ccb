package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/unsubscribe"
)

// links makes a link naming its subject in the clear, so that a test sees
// what was asked; fail makes it fail for a user.
type links struct{ fail string }

func (l links) URL(s unsubscribe.Subject) (string, error) {
	if s.UserID == l.fail {
		return "", errors.New("malformed subject")
	}
	return "https://notifier.test/api/v1/unsubscribe?token=" + s.UserID + "." + s.Type + "." + s.Channel, nil
}

func TestEmailsOfATypeOneMayLeaveCarryTheirUnsubscribeLinkAndOthersNone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	h.handler = mustHandlerWithSleep(t, h, nil, app.WithUnsubscribeLinks(links{fail: "u03"}))
	ctx := context.Background()

	mailing := emailBatch("p1", users(3)...)
	mailing.Unsubscribe = true
	mailing.Items = append(mailing.Items, delivery.Item{Channel: "sms", Recipient: users(1)[0]})
	require.NoError(t, h.handler.Handle(ctx, mailing))
	code := emailBatch("p2", users(1)...)
	code.NotificationType = "email_confirmation"
	require.NoError(t, h.handler.Handle(ctx, code))

	byPosting := map[string][]app.Message{}
	for _, m := range h.email.messages() {
		byPosting[m.PostingID] = append(byPosting[m.PostingID], m)
	}
	require.Len(t, byPosting["p1"], 3)
	for _, m := range byPosting["p1"] {
		if m.UserID == "u03" {
			assert.Empty(t, m.ListUnsubscribe, "a link that cannot be made: the email goes without one")
			assert.NotContains(t, m.HTML, "unsubscribe")
			continue
		}
		want := "https://notifier.test/api/v1/unsubscribe?token=" + m.UserID + ".new_movies.email"
		assert.Equal(t, want, m.ListUnsubscribe, "the header's link names the user, the type and the channel")
		assert.Contains(t, m.HTML, `<a href="`+want+`">unsubscribe</a>`, "the footer's link is the same")
	}
	require.Len(t, byPosting["p2"], 1)
	assert.Empty(t, byPosting["p2"][0].ListUnsubscribe, "a mandatory type carries no link")
	assert.False(t, strings.Contains(byPosting["p2"][0].HTML, "unsubscribe"))
	require.Len(t, h.sms.messages(), 1)
	assert.Empty(t, h.sms.messages()[0].ListUnsubscribe, "an SMS has no headers")
}
