package deliveryfx

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

func TestADigestHoldsOnlyTheChannelsWithItsTemplate(t *testing.T) {
	t.Parallel()
	renderer, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	cfg := config.Config{Delivery: config.Delivery{Digests: map[string]config.Digest{
		"reactions": {Window: time.Hour, GroupBy: "reaction_type"},
	}}}
	policies, err := digestPolicies(cfg, renderer)
	require.NoError(t, err)
	p := policies["reactions"]
	assert.Equal(t, []string{"email", "inapp"}, p.Channels, "no sms or webhook reactions_digest template: those go as they come")
	assert.Equal(t, "reactions_digest.md", p.Template)
	assert.Equal(t, config.DefaultDigestMaxItems, p.MaxItems)
	assert.Equal(t, time.Hour, p.Window)

	cfg.Delivery.Digests = map[string]config.Digest{"reactions": {At: "10:30", Channels: []string{"email"}, MaxItems: 5}}
	policies, err = digestPolicies(cfg, renderer)
	require.NoError(t, err)
	assert.Equal(t, 10*60+30, policies["reactions"].At)
	assert.Equal(t, []string{"email"}, policies["reactions"].Channels)
	assert.Equal(t, 5, policies["reactions"].MaxItems)
}

func TestADigestWithoutItsTemplateStopsTheStart(t *testing.T) {
	t.Parallel()
	renderer, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	_, err = digestPolicies(config.Config{Delivery: config.Delivery{Digests: map[string]config.Digest{
		"new_movies": {Window: time.Hour},
	}}}, renderer)
	require.ErrorContains(t, err, "delivery.digests.new_movies: no channel has the template new_movies_digest.md")
	_, err = digestPolicies(config.Config{Delivery: config.Delivery{Digests: map[string]config.Digest{
		"reactions": {Window: time.Hour, Channels: []string{"sms"}},
	}}}, renderer)
	require.ErrorContains(t, err, "delivery.digests.reactions: template sms/reactions_digest.md")
}
