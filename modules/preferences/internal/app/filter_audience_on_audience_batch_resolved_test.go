package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/preferences"
	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/messaging"
)

type filterFixture struct {
	store   *countingStore
	bus     *recordingBus
	handler *app.FilterAudienceOnAudienceBatchResolved
}

func newFilter(t *testing.T, d domain.Defaults) *filterFixture {
	t.Helper()
	f := &filterFixture{store: newCountingStore(), bus: &recordingBus{}}
	h, err := app.NewFilterAudienceOnAudienceBatchResolved(f.store, newPolicy(t, d), f.bus, discardLogger())
	require.NoError(t, err)
	f.handler = h
	return f
}

func (f *filterFixture) optOut(t *testing.T, userID string, channels, types map[string]bool) {
	t.Helper()
	require.NoError(t, f.store.Put(context.Background(), domain.UserPreferences{
		UserID:    userID,
		Overrides: domain.Overrides{Channels: channels, Types: types},
		UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}))
}

func (f *filterFixture) handle(t *testing.T, batch posting.AudienceBatchResolved) delivery.DeliverBatch {
	t.Helper()
	require.NoError(t, f.handler.Handle(context.Background(), &batch))
	return f.bus.only(t)
}

var (
	ann   = posting.Recipient{UserID: "ann", Email: "ann@example.com", Phone: "+15550001", FirstName: "Ann", Locale: "en", Timezone: "UTC", Username: "ann"}
	bob   = posting.Recipient{UserID: "bob", Email: "bob@example.com", Phone: "+15550002"}
	carol = posting.Recipient{UserID: "carol", Email: "carol@example.com"} // no phone
	dave  = posting.Recipient{UserID: "dave", Phone: "+15550004"}          // no email
)

func newMoviesBatch(recipients ...posting.Recipient) posting.AudienceBatchResolved {
	expires := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	return posting.AudienceBatchResolved{
		PostingID:        "p-1",
		BatchNo:          3,
		NotificationType: posting.TypeNewMovies,
		Priority:         posting.PriorityBulk,
		Channels:         []string{posting.ChannelEmail},
		Template:         "email/new_movies.md",
		TemplateContext:  map[string]any{"movies": []any{"Alien"}},
		ExpiresAt:        &expires,
		Recipients:       recipients,
	}
}

// delivered lists "user/channel" of the command's items.
func delivered(cmd delivery.DeliverBatch) []string {
	out := []string{}
	for _, it := range cmd.Items {
		out = append(out, it.Recipient.UserID+"/"+it.Channel)
	}
	return out
}

func TestAContextStoredOnceTravelsOnByItsReference(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	batch := newMoviesBatch(ann)
	batch.TemplateContext, batch.TemplateContextRef = nil, "posting:p-1:context"

	cmd := f.handle(t, batch)

	assert.Equal(t, "posting:p-1:context", cmd.TemplateContextRef)
	assert.Nil(t, cmd.TemplateContext)
}

func TestUsersWithDefaultPreferencesReceiveTheMailing(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	batch := newMoviesBatch(ann, bob)

	cmd := f.handle(t, batch)

	assert.Equal(t, "p-1", cmd.PostingID)
	assert.Equal(t, 3, cmd.BatchNo)
	assert.Equal(t, posting.TypeNewMovies, cmd.NotificationType)
	assert.Equal(t, "email/new_movies.md", cmd.Template)
	assert.Equal(t, batch.TemplateContext, cmd.TemplateContext)
	assert.Equal(t, batch.ExpiresAt, cmd.ExpiresAt)
	assert.Empty(t, cmd.Skipped)
	require.Equal(t, []string{"ann/email", "bob/email"}, delivered(cmd))
	assert.Equal(t, delivery.Recipient{
		UserID: "ann", Email: "ann@example.com", Phone: "+15550001", Username: "ann",
		FirstName: "Ann", Locale: "en", Timezone: "UTC",
	}, cmd.Items[0].Recipient, "every contact field travels on")
}

func TestDefaultsFromConfigDecideForUsersWithoutOverrides(t *testing.T) {
	t.Parallel()
	d := configuredDefaults()
	d.Types["new_movies"] = false // the operator made new_movies opt-in
	f := newFilter(t, d)
	f.optOut(t, "bob", nil, map[string]bool{"new_movies": true})

	cmd := f.handle(t, newMoviesBatch(ann, bob))

	assert.Equal(t, []string{"bob/email"}, delivered(cmd), "only bob opted in")
	assert.Equal(t, []delivery.SkippedItem{{UserID: "ann", Channel: "email", Reason: "off by default: types.new_movies"}}, cmd.Skipped,
		"the reason names the switch, and that it is the default's")
}

func TestChannelAndTypeOptOutsAreSkippedWithTheirReason(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.optOut(t, "ann", map[string]bool{"email": false}, nil)
	f.optOut(t, "bob", nil, map[string]bool{"new_movies": false})
	batch := newMoviesBatch(ann, bob, carol)

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"carol/email"}, delivered(cmd))
	assert.Equal(t, []delivery.SkippedItem{
		{UserID: "ann", Channel: "email", Reason: "opted out: channels.email"},
		{UserID: "bob", Channel: "email", Reason: "opted out: types.new_movies"},
	}, cmd.Skipped)
}

func TestOptOutOfOneChannelKeepsTheOther(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.optOut(t, "ann", map[string]bool{"sms": false}, nil)
	batch := newMoviesBatch(ann)
	batch.Channels = []string{"email", "sms"}

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"ann/email"}, delivered(cmd))
	assert.Equal(t, []delivery.SkippedItem{{UserID: "ann", Channel: "sms", Reason: "opted out: channels.sms"}}, cmd.Skipped)
}

func TestMandatoryTypesAreDeliveredDespiteOptOuts(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.optOut(t, "ann", map[string]bool{"email": false, "sms": false}, map[string]bool{"email_confirmation": false})
	batch := posting.AudienceBatchResolved{
		PostingID:        "p-confirm",
		NotificationType: posting.TypeEmailConfirmation,
		Priority:         posting.PriorityTransactional,
		Channels:         []string{"email"},
		Template:         "email/email_confirmation.md",
		Recipients:       []posting.Recipient{ann},
	}

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"ann/email"}, delivered(cmd))
	assert.Empty(t, cmd.Skipped)
}

func TestMandatoryTypesDoNotWaitOnThePreferencesStore(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.store.err = errBroken
	batch := posting.AudienceBatchResolved{
		PostingID:        "p-code",
		NotificationType: posting.TypePhoneConfirmation,
		Priority:         posting.PriorityTransactional,
		Channels:         []string{"sms"},
		Template:         "sms/phone_confirmation.md",
		Recipients:       []posting.Recipient{ann},
	}

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"ann/sms"}, delivered(cmd))
	assert.Empty(t, f.store.calls(), "opt-outs cannot change a mandatory type, so none are loaded")
}

func TestRecipientsWithoutTheChannelsAddressAreSkipped(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	batch := newMoviesBatch(carol, dave)
	batch.Channels = []string{"email", "sms"}

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"carol/email", "dave/sms"}, delivered(cmd))
	assert.Equal(t, []delivery.SkippedItem{
		{UserID: "carol", Channel: "sms", Reason: preferences.ReasonNoAddress},
		{UserID: "dave", Channel: "email", Reason: preferences.ReasonNoAddress},
	}, cmd.Skipped)
}

func TestMandatoryTypeWithoutAddressIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	batch := posting.AudienceBatchResolved{
		PostingID:        "p-code",
		NotificationType: posting.TypePhoneConfirmation,
		Priority:         posting.PriorityTransactional,
		Channels:         []string{"sms"},
		Recipients:       []posting.Recipient{carol},
	}

	cmd := f.handle(t, batch)

	assert.Empty(t, cmd.Items)
	assert.Equal(t, []delivery.SkippedItem{{UserID: "carol", Channel: "sms", Reason: preferences.ReasonNoAddress}}, cmd.Skipped)
}

func TestUnknownChannelIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	batch := newMoviesBatch(ann)
	batch.Channels = []string{"email", "pigeon"}

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"ann/email"}, delivered(cmd))
	assert.Equal(t, []delivery.SkippedItem{{UserID: "ann", Channel: "pigeon", Reason: preferences.ReasonUnknownChan}}, cmd.Skipped)
}

func TestPriorityPicksTheDeliveryLane(t *testing.T) {
	t.Parallel()
	cases := map[posting.Priority]string{
		posting.PriorityTransactional: delivery.LaneTransactional,
		posting.PriorityBulk:          delivery.LaneBulk,
		"":                            delivery.LaneBulk,
	}
	for priority, lane := range cases {
		t.Run(string(priority)+"->"+lane, func(t *testing.T) {
			t.Parallel()
			f := newFilter(t, configuredDefaults())
			batch := newMoviesBatch(ann)
			batch.Priority = priority

			cmd := f.handle(t, batch)

			assert.Equal(t, lane, cmd.Lane)
			assert.Equal(t, lane, cmd.RouteKey(), "the command travels on its lane's topic")
		})
	}
}

func TestAllSkippedBatchStillSendsDeliverBatch(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.optOut(t, "ann", map[string]bool{"email": false}, nil)
	f.optOut(t, "bob", nil, map[string]bool{"new_movies": false})

	cmd := f.handle(t, newMoviesBatch(ann, bob))

	assert.NotNil(t, cmd.Items, "items is an empty list, not null")
	assert.Empty(t, cmd.Items)
	assert.Len(t, cmd.Skipped, 2, "delivery records the skips so the posting's counters complete")
}

func TestEmptyBatchStillSendsDeliverBatch(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())

	cmd := f.handle(t, newMoviesBatch())

	assert.Equal(t, "p-1", cmd.PostingID)
	assert.Empty(t, cmd.Items)
	assert.Empty(t, cmd.Skipped)
	assert.Empty(t, f.store.calls(), "nobody to look up")
}

func TestBatchPreferencesAreLoadedWithOneStoreCall(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	recipients := make([]posting.Recipient, 0, 2000)
	for i := range 2000 {
		r := bob
		r.UserID = fmt.Sprintf("user-%04d", i)
		recipients = append(recipients, r)
	}

	f.handle(t, newMoviesBatch(recipients...))

	calls := f.store.calls()
	require.Len(t, calls, 1)
	assert.Len(t, calls[0], 2000)
}

func TestDuplicateRecipientsAndChannelsYieldOnePair(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	batch := newMoviesBatch(ann, ann, posting.Recipient{Email: "nobody@example.com"})
	batch.Channels = []string{"email", "email"}

	cmd := f.handle(t, batch)

	assert.Equal(t, []string{"ann/email"}, delivered(cmd), "a recipient without user id cannot be delivered nor recorded")
	assert.Equal(t, [][]string{{"ann"}}, f.store.calls())
}

func TestRedeliveredBatchSendsTheSameCommand(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.optOut(t, "bob", nil, map[string]bool{"new_movies": false})
	batch := newMoviesBatch(ann, bob, dave)

	require.NoError(t, f.handler.Handle(context.Background(), &batch))
	require.NoError(t, f.handler.Handle(context.Background(), &batch))

	require.Len(t, f.bus.sent, 2)
	assert.Equal(t, f.bus.sent[0], f.bus.sent[1])
}

func TestStoreFailureIsRetriedAndSendsNothing(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.store.err = errBroken
	batch := newMoviesBatch(ann)

	err := f.handler.Handle(context.Background(), &batch)

	require.ErrorIs(t, err, errBroken)
	assert.False(t, messaging.IsPermanent(err), "a store outage is worth retrying")
	assert.Empty(t, f.bus.sent)
}

func TestSendFailureIsRetried(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	f.bus.err = errBroken
	batch := newMoviesBatch(ann)

	err := f.handler.Handle(context.Background(), &batch)

	require.ErrorIs(t, err, errBroken)
	assert.False(t, messaging.IsPermanent(err))
}

func TestMalformedBatchIsPermanent(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())

	noID := newMoviesBatch(ann)
	noID.PostingID = ""
	assert.True(t, messaging.IsPermanent(f.handler.Handle(context.Background(), &noID)))
	assert.True(t, messaging.IsPermanent(f.handler.Handle(context.Background(), "not a batch")))
	assert.Empty(t, f.bus.sent)
}

func TestFilterHandlerIdentity(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	assert.Equal(t, "preferences.FilterAudienceOnAudienceBatchResolved", f.handler.HandlerName())
	assert.IsType(t, &posting.AudienceBatchResolved{}, f.handler.NewEvent())
}

func TestFilterHandlerRejectsNilDependencies(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, configuredDefaults())
	_, err := app.NewFilterAudienceOnAudienceBatchResolved(nil, p, &recordingBus{}, discardLogger())
	assert.Error(t, err)
	_, err = app.NewFilterAudienceOnAudienceBatchResolved(newCountingStore(), nil, &recordingBus{}, discardLogger())
	assert.Error(t, err)
	_, err = app.NewFilterAudienceOnAudienceBatchResolved(newCountingStore(), p, nil, discardLogger())
	assert.Error(t, err)
	_, err = app.NewFilterAudienceOnAudienceBatchResolved(newCountingStore(), p, &recordingBus{}, nil)
	assert.Error(t, err)
}

func TestATypeSwitchedOffOnOneChannelIsSkippedThereAndDeliveredOnTheOther(t *testing.T) {
	t.Parallel()
	f := newFilter(t, configuredDefaults())
	require.NoError(t, f.store.Put(context.Background(), domain.UserPreferences{
		UserID: "ann",
		Overrides: domain.Overrides{
			Channels: map[string]bool{"sms": true},
			PerType:  map[string]map[string]bool{"new_movies": {"email": false, "sms": true}},
		},
	}))
	batch := newMoviesBatch(ann, bob)
	batch.Channels = []string{"email", "sms"}

	cmd := f.handle(t, batch)

	assert.Contains(t, delivered(cmd), "ann/sms")
	assert.NotContains(t, delivered(cmd), "ann/email")
	assert.Contains(t, delivered(cmd), "bob/email")
	assert.Contains(t, cmd.Skipped, delivery.SkippedItem{UserID: "ann", Channel: "email", Reason: "opted out: per_type.new_movies.email"})
}

func TestABatchOfATypeOneMayLeaveSaysSoAndAMandatoryOneDoesNot(t *testing.T) {
	t.Parallel()
	assert.True(t, newFilter(t, configuredDefaults()).handle(t, newMoviesBatch(ann)).Unsubscribe,
		"new_movies: its emails carry an unsubscribe link")

	code := newMoviesBatch(ann)
	code.NotificationType = "email_confirmation"
	assert.False(t, newFilter(t, configuredDefaults()).handle(t, code).Unsubscribe, "a mandatory type carries none")
}

func TestBulkItemsCarryTheRecipientsQuietHoursInTheirZone(t *testing.T) {
	t.Parallel()
	d := configuredDefaults()
	d.QuietHours = domain.QuietHours{Start: "22:00", End: "08:00"}
	d.DefaultTimezone = "Europe/Moscow"
	f := newFilter(t, d)
	require.NoError(t, f.store.Put(context.Background(), domain.UserPreferences{
		UserID: "bob", Overrides: domain.Overrides{QuietHours: &domain.QuietHours{Start: "23:30", End: "07:00"}},
	}))
	require.NoError(t, f.store.Put(context.Background(), domain.UserPreferences{
		UserID: "carol", Overrides: domain.Overrides{QuietHours: &domain.QuietHours{Start: "00:00", End: "00:00"}},
	}))
	annInBerlin := ann
	annInBerlin.Timezone = "Europe/Berlin"
	bobNowhere := bob
	bobNowhere.Timezone = "Mars/Olympus"

	cmd := f.handle(t, newMoviesBatch(annInBerlin, bobNowhere, carol))

	quiet := map[string]*delivery.QuietHours{}
	for _, it := range cmd.Items {
		quiet[it.Recipient.UserID] = it.QuietHours
	}
	assert.Equal(t, &delivery.QuietHours{Start: "22:00", End: "08:00", Zone: "Europe/Berlin"}, quiet["ann"], "the configured window in her zone")
	assert.Equal(t, &delivery.QuietHours{Start: "23:30", End: "07:00", Zone: "Europe/Moscow"}, quiet["bob"], "his own window; an unknown zone falls back to the default")
	assert.Nil(t, quiet["carol"], "start equal to end: none for her")

	code := newMoviesBatch(annInBerlin)
	code.Priority = posting.PriorityTransactional
	assert.Nil(t, newFilter(t, d).handle(t, code).Items[0].QuietHours, "a transactional posting ignores quiet hours")
	confirmation := newMoviesBatch(annInBerlin)
	confirmation.NotificationType = "email_confirmation"
	assert.Nil(t, newFilter(t, d).handle(t, confirmation).Items[0].QuietHours, "a mandatory type ignores quiet hours")
	assert.Nil(t, newFilter(t, configuredDefaults()).handle(t, newMoviesBatch(annInBerlin)).Items[0].QuietHours, "none configured: none")
}
