package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/preferences"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
)

// defaults mirrors the preferences section of configs/default.yaml, with
// sms off by default to tell configured defaults from built-in ones.
func defaults() domain.Defaults {
	return domain.Defaults{
		Channels:           map[string]bool{"email": true, "sms": false},
		Types:              map[string]bool{"welcome": true, "new_movies": true, "reactions": false},
		DefaultTypeEnabled: true,
		Mandatory:          []string{"email_confirmation", "phone_confirmation"},
	}
}

func newPolicy(t *testing.T, d domain.Defaults) *domain.Policy {
	t.Helper()
	p, err := domain.NewPolicy(d)
	require.NoError(t, err)
	return p
}

var alice = domain.Contact{Email: "alice@example.com", Phone: "+15550100"}

func TestUserWithoutOverridesGetsConfiguredDefaults(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, defaults())
	none := domain.Overrides{}

	assert.True(t, p.ChannelEnabled(none, "email"))
	assert.False(t, p.ChannelEnabled(none, "sms"), "sms is off in the configured defaults")
	assert.True(t, p.TypeEnabled(none, "new_movies"))
	assert.False(t, p.TypeEnabled(none, "reactions"), "reactions is off in the configured defaults")
	assert.True(t, p.TypeEnabled(none, "managers_digest"), "an unlisted type follows default_type_enabled")

	d := defaults()
	d.DefaultTypeEnabled = false
	strict := newPolicy(t, d)
	assert.False(t, strict.TypeEnabled(none, "managers_digest"))
	assert.True(t, strict.TypeEnabled(none, "welcome"), "a listed type keeps its own default")
}

func TestASupportedChannelMissingFromConfigIsOn(t *testing.T) {
	t.Parallel()
	d := defaults()
	d.Channels = map[string]bool{"email": true}
	p := newPolicy(t, d)
	assert.True(t, p.ChannelEnabled(domain.Overrides{}, "sms"))
	assert.False(t, p.ChannelEnabled(domain.Overrides{}, "fax"), "an unsupported channel is never on")
}

func TestOverridesBeatDefaults(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, defaults())
	o := domain.Overrides{
		Channels: map[string]bool{"email": false, "sms": true},
		Types:    map[string]bool{"new_movies": false, "reactions": true, "managers_digest": false},
	}
	assert.False(t, p.ChannelEnabled(o, "email"))
	assert.True(t, p.ChannelEnabled(o, "sms"))
	assert.False(t, p.TypeEnabled(o, "new_movies"))
	assert.True(t, p.TypeEnabled(o, "reactions"))
	assert.False(t, p.TypeEnabled(o, "managers_digest"))
}

func TestDecideSkipsWithTheReasonOfTheOptOut(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, defaults())
	cases := []struct {
		name     string
		o        domain.Overrides
		typ, ch  string
		contact  domain.Contact
		expected string
	}{
		{"opted in", domain.Overrides{}, "new_movies", "email", alice, ""},
		{"channel opt-out", domain.Overrides{Channels: map[string]bool{"email": false}}, "new_movies", "email", alice, "opted out: channels.email"},
		{"type opt-out", domain.Overrides{Types: map[string]bool{"new_movies": false}}, "new_movies", "email", alice, "opted out: types.new_movies"},
		{"both opted out names the channel", domain.Overrides{Channels: map[string]bool{"email": false}, Types: map[string]bool{"new_movies": false}}, "new_movies", "email", alice, "opted out: channels.email"},
		{"channel off by default", domain.Overrides{}, "new_movies", "sms", alice, "off by default: channels.sms"},
		{"type off by default", domain.Overrides{}, "reactions", "email", alice, "off by default: types.reactions"},
		{"type on one channel off", perType("new_movies", "email", false), "new_movies", "email", alice, "opted out: per_type.new_movies.email"},
		{"type off on another channel only", perType("new_movies", "sms", false), "new_movies", "email", alice, ""},
		{"type on one channel on", perType("new_movies", "email", true), "new_movies", "email", alice, ""},
		{"per type on does not beat the channel off", domain.Overrides{Channels: map[string]bool{"sms": false}, PerType: map[string]map[string]bool{"new_movies": {"sms": true}}}, "new_movies", "sms", alice, "opted out: channels.sms"},
		{"per type on does not beat the type off", domain.Overrides{Types: map[string]bool{"new_movies": false}, PerType: map[string]map[string]bool{"new_movies": {"email": true}}}, "new_movies", "email", alice, "opted out: types.new_movies"},
		{"per type on does not beat a default off", perType("reactions", "email", true), "reactions", "email", alice, "off by default: types.reactions"},
		{"mandatory despite a per type opt-out", perType("email_confirmation", "email", false), "email_confirmation", "email", alice, ""},
		{"no email address", domain.Overrides{}, "new_movies", "email", domain.Contact{Phone: "+15550100"}, preferences.ReasonNoAddress},
		{"no phone", domain.Overrides{Channels: map[string]bool{"sms": true}}, "new_movies", "sms", domain.Contact{Email: "a@example.com"}, preferences.ReasonNoAddress},
		{"inapp on by default, addressed by the user id", domain.Overrides{}, "new_movies", "inapp", domain.Contact{UserID: "u1"}, ""},
		{"inapp channel opt-out", domain.Overrides{Channels: map[string]bool{"inapp": false}}, "new_movies", "inapp", domain.Contact{UserID: "u1"}, "opted out: channels.inapp"},
		{"inapp type opt-out", perType("new_movies", "inapp", false), "new_movies", "inapp", domain.Contact{UserID: "u1"}, "opted out: per_type.new_movies.inapp"},
		{"inapp without a user id", domain.Overrides{}, "new_movies", "inapp", domain.Contact{Email: "a@example.com"}, preferences.ReasonNoAddress},
		{"webhook on by default, addressed by a URL", domain.Overrides{}, "new_movies", "webhook", domain.Contact{UserID: "u1", WebhookURL: "https://hooks.example.com/u1"}, ""},
		{"webhook without a URL", domain.Overrides{}, "new_movies", "webhook", domain.Contact{UserID: "u1", Email: "a@example.com"}, preferences.ReasonNoAddress},
		{"webhook channel opt-out", domain.Overrides{Channels: map[string]bool{"webhook": false}}, "new_movies", "webhook", domain.Contact{WebhookURL: "https://hooks.example.com/u1"}, "opted out: channels.webhook"},
		{"unknown channel", domain.Overrides{}, "new_movies", "pigeon", alice, preferences.ReasonUnknownChan},
		{"mandatory despite channel and type opt-outs", domain.Overrides{Channels: map[string]bool{"email": false}, Types: map[string]bool{"email_confirmation": false}}, "email_confirmation", "email", alice, ""},
		{"mandatory on a channel off by default", domain.Overrides{}, "phone_confirmation", "sms", alice, ""},
		{"mandatory still needs an address", domain.Overrides{}, "phone_confirmation", "sms", domain.Contact{Email: "a@example.com"}, preferences.ReasonNoAddress},
		{"mandatory on an unknown channel", domain.Overrides{}, "email_confirmation", "pigeon", alice, preferences.ReasonUnknownChan},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.expected, p.Decide(tc.o, tc.typ, tc.ch, tc.contact))
		})
	}
}

func perType(typ, ch string, on bool) domain.Overrides {
	return domain.Overrides{PerType: map[string]map[string]bool{typ: {ch: on}}}
}

func TestViewShowsEffectiveValuesOfEveryChannelAndKnownType(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, defaults())
	v := p.View(domain.UserPreferences{
		UserID: "u1",
		Overrides: domain.Overrides{
			Channels: map[string]bool{"email": false},
			Types:    map[string]bool{"managers_digest": false, "email_confirmation": false},
		},
	})
	assert.Equal(t, "u1", v.UserID)
	assert.Equal(t, map[string]bool{"email": false, "sms": false, "inapp": true, "webhook": true}, v.Channels)
	assert.Equal(t, map[string]bool{
		"welcome": true, "new_movies": true, "reactions": false,
		"email_confirmation": true, "phone_confirmation": true, // mandatory: opt-out has no effect
		"managers_digest": false,
	}, v.Types)
	assert.Equal(t, []string{"email_confirmation", "phone_confirmation"}, v.Mandatory)
	assert.Empty(t, v.PerType)
	assert.NotNil(t, v.PerType, "an empty object, not null")
	assert.True(t, v.UpdatedAt.IsZero())
}

func TestViewShowsTheUsersPerTypeSwitchesAndTheirTypes(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, defaults())
	o := domain.Overrides{PerType: map[string]map[string]bool{"new_movies": {"sms": false}, "promo": {"email": true}}}
	v := p.View(domain.UserPreferences{UserID: "u1", Overrides: o})
	assert.Equal(t, map[string]map[string]bool{"new_movies": {"sms": false}, "promo": {"email": true}}, v.PerType)
	assert.True(t, v.Types["promo"], "a type with a per-type switch is listed with its effective value")
	v.PerType["new_movies"]["sms"] = true
	assert.False(t, o.PerType["new_movies"]["sms"], "the view is a copy")
}

func TestOverridesWithUnknownChannelsOrMalformedTypesInPerTypeAreInvalid(t *testing.T) {
	t.Parallel()
	errs := domain.ValidateOverrides(domain.Overrides{PerType: map[string]map[string]bool{
		"new_movies": {"email": true, "fax": false}, "New Movies": {"email": true},
	}})
	require.Len(t, errs, 2)
	assert.Equal(t, "per_type.New Movies", errs[0].Field)
	assert.Equal(t, "per_type.new_movies.fax", errs[1].Field)
	assert.Contains(t, errs[1].Message, "unknown channel")
}

func TestPolicyRefusesBadDefaults(t *testing.T) {
	t.Parallel()
	cases := map[string]func(*domain.Defaults){
		"preferences.channels":  func(d *domain.Defaults) { d.Channels["fax"] = true },
		"preferences.types":     func(d *domain.Defaults) { d.Types["New Movies"] = true },
		"preferences.mandatory": func(d *domain.Defaults) { d.Mandatory = append(d.Mandatory, "") },
	}
	for setting, spoil := range cases {
		t.Run(setting, func(t *testing.T) {
			t.Parallel()
			d := defaults()
			spoil(&d)
			_, err := domain.NewPolicy(d)
			require.Error(t, err)
			assert.Contains(t, err.Error(), setting)
		})
	}
}

func TestPolicyDoesNotShareTheCallersMaps(t *testing.T) {
	t.Parallel()
	d := defaults()
	p := newPolicy(t, d)
	d.Types["new_movies"] = false
	assert.True(t, p.TypeEnabled(domain.Overrides{}, "new_movies"))
}

func TestValidateOverridesNamesEachBadField(t *testing.T) {
	t.Parallel()
	errs := domain.ValidateOverrides(domain.Overrides{
		Channels: map[string]bool{"email": true, "fax": true},
		Types:    map[string]bool{"new_movies": true, "Bad-Type": false, "9lives": true},
	})
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	assert.Equal(t, []string{"channels.fax", "types.9lives", "types.Bad-Type"}, fields)
	assert.Empty(t, domain.ValidateOverrides(domain.Overrides{Types: map[string]bool{"a": true, "managers_digest_2": false}}))
}

func TestValidUserID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11", "auth:user.42_x"} {
		assert.Empty(t, domain.ValidateUserID(ok), ok)
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a/b", "a b", "ü", string(long)} {
		errs := domain.ValidateUserID(bad)
		require.Len(t, errs, 1, bad)
		assert.Equal(t, "user_id", errs[0].Field)
	}
}
