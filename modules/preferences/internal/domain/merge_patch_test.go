package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/preferences/internal/domain"
)

func patchOf(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(doc), &m))
	return m
}

func TestMergePatchChangesOnlyWhatItNames(t *testing.T) {
	t.Parallel()
	before := domain.Overrides{
		Channels: map[string]bool{"email": true, "sms": false},
		Types:    map[string]bool{"new_movies": false, "reactions": true},
		PerType:  map[string]map[string]bool{"new_episode": {"email": true, "sms": false}, "promo": {"sms": true}},
	}
	cases := []struct {
		name, patch string
		want        domain.Overrides
	}{
		{"one per-type switch", `{"per_type": {"new_movies": {"sms": false}}}`, domain.Overrides{
			Channels: before.Channels, Types: before.Types,
			PerType: map[string]map[string]bool{"new_episode": {"email": true, "sms": false}, "promo": {"sms": true}, "new_movies": {"sms": false}},
		}},
		{"one channel, the rest kept", `{"channels": {"sms": true}}`, domain.Overrides{
			Channels: map[string]bool{"email": true, "sms": true}, Types: before.Types, PerType: before.PerType,
		}},
		{"null returns a switch to its default", `{"types": {"new_movies": null}, "per_type": {"new_episode": {"sms": null}}}`, domain.Overrides{
			Channels: before.Channels, Types: map[string]bool{"reactions": true},
			PerType: map[string]map[string]bool{"new_episode": {"email": true}, "promo": {"sms": true}},
		}},
		{"the last switch of a type gone drops the type", `{"per_type": {"promo": {"sms": null}}}`, domain.Overrides{
			Channels: before.Channels, Types: before.Types, PerType: map[string]map[string]bool{"new_episode": {"email": true, "sms": false}},
		}},
		{"null clears a whole member", `{"channels": null, "per_type": null}`, domain.Overrides{Types: before.Types}},
		{"a type set to null in per_type", `{"per_type": {"new_episode": null}}`, domain.Overrides{
			Channels: before.Channels, Types: before.Types, PerType: map[string]map[string]bool{"promo": {"sms": true}},
		}},
		{"read-only members are ignored", `{"user_id": "u1", "mandatory": ["x"], "updated_at": "2026-01-01T00:00:00Z"}`, before},
		{"an empty patch changes nothing", `{}`, before},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := domain.MergePatch(before, patchOf(t, tc.patch))
			require.Empty(t, errs)
			assert.Equal(t, len(tc.want.Channels), len(got.Channels))
			for k, v := range tc.want.Channels {
				assert.Equal(t, v, got.Channels[k], "channels.%s", k)
			}
			assert.Equal(t, len(tc.want.Types), len(got.Types))
			for k, v := range tc.want.Types {
				assert.Equal(t, v, got.Types[k], "types.%s", k)
			}
			assert.Equal(t, len(tc.want.PerType), len(got.PerType), "per_type: %v", got.PerType)
			for k, v := range tc.want.PerType {
				assert.Equal(t, v, got.PerType[k], "per_type.%s", k)
			}
		})
	}
	assert.Equal(t, map[string]bool{"email": true, "sms": false}, before.Channels, "the overrides patched are not changed")
	assert.Equal(t, map[string]bool{"email": true, "sms": false}, before.PerType["new_episode"])
}

func TestMergePatchNamesEveryMemberOfAnotherShape(t *testing.T) {
	t.Parallel()
	_, errs := domain.MergePatch(domain.Overrides{}, patchOf(t, `{
		"channels": {"email": "yes"},
		"types": [true],
		"per_type": {"new_movies": true, "new_episode": {"sms": 1}},
		"colour": "blue"
	}`))
	fields := make([]string, len(errs))
	for i, e := range errs {
		fields[i] = e.Field
	}
	assert.Equal(t, []string{"channels.email", "colour", "per_type.new_episode.sms", "per_type.new_movies", "types"}, fields)
}
