package app_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/preferences"
)

func TestAWebhookGoesToTheUsersOwnURLAndOnlyItsItemCarriesIt(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	hooked := ann
	hooked.WebhookURL = " https://hooks.example.com/ann?token=s3cret "
	batch := newMoviesBatch(hooked, bob)
	batch.Channels = []string{posting.ChannelEmail, posting.ChannelWebhook}

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"ann/email", "ann/webhook", "bob/email"}, delivered(cmd))
	assert.Empty(t, cmd.Items[0].Recipient.WebhookURL, "the email item does not carry the URL")
	assert.Equal(t, "https://hooks.example.com/ann?token=s3cret", cmd.Items[1].Recipient.WebhookURL)
	assert.Equal(t, []delivery.SkippedItem{{UserID: "bob", Channel: "webhook", Reason: preferences.ReasonNoAddress}}, cmd.Skipped,
		"a user without a URL is skipped, as one without a phone is for SMS")
}

func TestAPostingsWebhookURLStandsForEveryRecipientsOwn(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	hooked := ann
	hooked.WebhookURL = "https://hooks.example.com/ann"
	batch := newMoviesBatch(hooked, bob)
	batch.Channels = []string{posting.ChannelWebhook}
	batch.WebhookURL = "https://crm.example.com/hooks/notifier"

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"ann/webhook", "bob/webhook"}, delivered(cmd), "bob has no URL of his own: the posting's is his address")
	assert.Equal(t, "https://crm.example.com/hooks/notifier", cmd.WebhookURL, "once, for the whole batch")
	for _, it := range cmd.Items {
		assert.Empty(t, it.Recipient.WebhookURL, "not copied into every item: %s", it.Recipient.UserID)
	}
	assert.Empty(t, cmd.Skipped)
}

func TestAUserWhoTurnedTheWebhookChannelOffIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.optOut(t, "ann", map[string]bool{"webhook": false}, nil)
	hooked := ann
	hooked.WebhookURL = "https://hooks.example.com/ann"
	batch := newMoviesBatch(hooked)
	batch.Channels = []string{posting.ChannelWebhook}

	cmd := f.handle(t, batch)

	assert.Empty(t, cmd.Items)
	assert.Equal(t, []delivery.SkippedItem{{UserID: "ann", Channel: "webhook", Reason: "opted out: channels.webhook"}}, cmd.Skipped)
}
