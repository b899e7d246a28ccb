package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
)

func TestPatchChangesOneSwitchAndKeepsTheRest(t *testing.T) {
	t.Parallel()
	f := newPrefs(t)
	ctx := context.Background()
	_, err := f.update.Handle(ctx, app.UpdatePreferences{
		UserID:   "ann",
		Channels: map[string]bool{"email": false},
		Types:    map[string]bool{"reactions": false},
	})
	require.NoError(t, err)
	f.clock.Advance(time.Hour)

	v, err := f.patch.Handle(ctx, app.PatchPreferences{UserID: "ann", Patch: []byte(`{"per_type": {"new_movies": {"sms": false}}}`)})

	require.NoError(t, err)
	assert.False(t, v.Channels["email"], "kept")
	assert.False(t, v.Types["reactions"], "kept")
	assert.Equal(t, map[string]map[string]bool{"new_movies": {"sms": false}}, v.PerType)
	assert.True(t, v.UpdatedAt.Equal(start.Add(time.Hour)))
	got, err := f.get.Handle(ctx, app.GetPreferences{UserID: "ann"})
	require.NoError(t, err)
	assert.Equal(t, v, got, "GET shows what PATCH answered")

	v, err = f.patch.Handle(ctx, app.PatchPreferences{UserID: "ann", Patch: []byte(`{"channels": {"email": null}, "user_id": "ann"}`)})
	require.NoError(t, err)
	assert.True(t, v.Channels["email"], "null: back to the default")
	stored, _, err := f.store.Get(ctx, "ann")
	require.NoError(t, err)
	assert.Empty(t, stored.Overrides.Channels)
}

func TestPatchOfAUserWithoutPreferencesStartsFromTheDefaults(t *testing.T) {
	t.Parallel()
	f := newPrefs(t)
	v, err := f.patch.Handle(context.Background(), app.PatchPreferences{UserID: "bob", Patch: []byte(`{"types": {"new_movies": false}}`)})
	require.NoError(t, err)
	assert.False(t, v.Types["new_movies"])
	assert.True(t, v.Channels["email"])
}

func TestBadPatchesAreRefusedAndStoreNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, user, patch string
		malformed         bool
		fields            []string
	}{
		{"not JSON", "ann", `{"types": `, true, nil},
		{"an array", "ann", `[{"op": "replace"}]`, true, nil},
		{"null", "ann", `null`, true, nil},
		{"a string", "ann", `"types"`, true, nil},
		{"unknown channel", "ann", `{"channels": {"fax": true}}`, false, []string{"channels.fax"}},
		{"unknown channel in per_type", "ann", `{"per_type": {"new_movies": {"pigeon": false}}}`, false, []string{"per_type.new_movies.pigeon"}},
		{"malformed type", "ann", `{"types": {"New Movies": false}}`, false, []string{"types.New Movies"}},
		{"not a boolean", "ann", `{"per_type": {"new_movies": {"sms": "off"}}}`, false, []string{"per_type.new_movies.sms"}},
		{"unknown member", "ann", `{"quiet": true}`, false, []string{"quiet"}},
		{"another user", "ann", `{"user_id": "bob", "types": {"new_movies": false}}`, false, []string{"user_id"}},
		{"malformed user id", "a b", `{}`, false, []string{"user_id"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newPrefs(t)
			_, err := f.patch.Handle(context.Background(), app.PatchPreferences{UserID: tc.user, Patch: []byte(tc.patch)})
			require.Error(t, err)
			if tc.malformed {
				require.ErrorIs(t, err, app.ErrMalformedPatch)
			} else {
				var invalid *domain.InvalidInputError
				require.ErrorAs(t, err, &invalid)
				fields := make([]string, len(invalid.Fields))
				for i, fe := range invalid.Fields {
					fields[i] = fe.Field
				}
				assert.Equal(t, tc.fields, fields)
			}
			_, found, err := f.store.Get(context.Background(), tc.user)
			require.NoError(t, err)
			assert.False(t, found, "nothing stored")
		})
	}
}
