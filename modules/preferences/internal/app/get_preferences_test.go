package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/preferences/internal/adapters/memory"
	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

type prefsFixture struct {
	store  *memory.Store
	clock  *clock.Fake
	get    *app.GetPreferencesHandler
	update *app.UpdatePreferencesHandler
	patch  *app.PatchPreferencesHandler
}

var start = time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)

func newPrefs(t *testing.T) *prefsFixture {
	t.Helper()
	f := &prefsFixture{store: memory.NewStore(), clock: clock.NewFake(start)}
	policy := newPolicy(t, configuredDefaults())
	var err error
	f.get, err = app.NewGetPreferencesHandler(f.store, policy)
	require.NoError(t, err)
	f.update, err = app.NewUpdatePreferencesHandler(f.store, policy, f.clock)
	require.NoError(t, err)
	f.patch, err = app.NewPatchPreferencesHandler(f.store, policy, f.clock)
	require.NoError(t, err)
	return f
}

func TestNewUserSeesTheDefaults(t *testing.T) {
	t.Parallel()
	f := newPrefs(t)

	v, err := f.get.Handle(context.Background(), app.GetPreferences{UserID: "ann"})

	require.NoError(t, err)
	assert.Equal(t, "ann", v.UserID)
	assert.Equal(t, map[string]bool{"email": true, "sms": true, "inapp": true, "webhook": true}, v.Channels)
	assert.Equal(t, map[string]bool{
		"welcome": true, "new_movies": true, "new_episode": true, "reactions": true,
		"email_confirmation": true, "phone_confirmation": true,
	}, v.Types)
	assert.Equal(t, []string{"email_confirmation", "phone_confirmation"}, v.Mandatory)
	assert.True(t, v.UpdatedAt.IsZero(), "never updated")
}

func TestGetRefusesAMalformedUserID(t *testing.T) {
	t.Parallel()
	f := newPrefs(t)

	_, err := f.get.Handle(context.Background(), app.GetPreferences{UserID: "a/b"})

	var invalid *domain.InvalidInputError
	require.ErrorAs(t, err, &invalid)
	assert.Equal(t, "user_id", invalid.Fields[0].Field)
}

func TestGetReportsStoreFailures(t *testing.T) {
	t.Parallel()
	h, err := app.NewGetPreferencesHandler(failingGetter{}, newPolicy(t, configuredDefaults()))
	require.NoError(t, err)

	_, err = h.Handle(context.Background(), app.GetPreferences{UserID: "ann"})
	require.ErrorIs(t, err, errBroken)
}

type failingGetter struct{}

func (failingGetter) Get(context.Context, string) (domain.UserPreferences, bool, error) {
	return domain.UserPreferences{}, false, errBroken
}

func TestGetPreferencesHandlerRejectsNilDependencies(t *testing.T) {
	t.Parallel()
	_, err := app.NewGetPreferencesHandler(nil, newPolicy(t, configuredDefaults()))
	assert.Error(t, err)
	_, err = app.NewGetPreferencesHandler(memory.NewStore(), nil)
	assert.Error(t, err)
}
