package app_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/demodirectory"
)

func TestTheWebhookURLsOfThePostingAndOfEachUserTravelWithTheBatch(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(2)
	users[0].WebhookURL = "https://hooks.example.com/u0?token=s3cret"
	w := newWorld(t, users)
	w.mustCreate(t, posting.CreatePosting{
		Receivers: "http://auth/api/v1/users/", Template: "email/new_movies.md",
		DeliveryType: []string{posting.ChannelEmail, posting.ChannelWebhook},
	})
	w.mustCreate(t, posting.CreatePosting{
		Receivers: "http://auth/api/v1/users/?id=" + users[1].ID, Template: "sms/phone_confirmation.md",
		DeliveryType: []string{posting.ChannelWebhook}, WebhookURL: " https://crm.example.com/hooks/notifier ",
		TemplateContext: map[string]any{"secret_code": "1234"},
	})

	w.walk(t)

	batches := w.events.batches()
	require.Len(t, batches, 2)
	byTemplate := map[string]posting.AudienceBatchResolved{batches[0].Template: batches[0], batches[1].Template: batches[1]}
	mailing := byTemplate["email/new_movies.md"]
	require.Empty(t, mailing.WebhookURL)
	require.Len(t, mailing.Recipients, 2)
	require.Equal(t, "https://hooks.example.com/u0?token=s3cret", mailing.Recipients[0].WebhookURL, "from the directory record")
	require.Empty(t, mailing.Recipients[1].WebhookURL)
	code := byTemplate["sms/phone_confirmation.md"]
	require.Equal(t, "https://crm.example.com/hooks/notifier", code.WebhookURL, "the posting's own, trimmed")
}
