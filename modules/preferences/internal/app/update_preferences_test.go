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
)

func TestUpdateStoresOverridesAndShowsTheirEffect(t *testing.T) {
	t.Parallel()
	f := newPrefs(t)
	ctx := context.Background()

	v, err := f.update.Handle(ctx, app.UpdatePreferences{
		UserID:   "ann",
		Channels: map[string]bool{"sms": false},
		Types:    map[string]bool{"new_movies": false, "managers_digest": false},
	})

	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"email": true, "sms": false, "inapp": true, "webhook": true}, v.Channels)
	assert.False(t, v.Types["new_movies"])
	assert.False(t, v.Types["managers_digest"], "an overridden type is listed")
	assert.True(t, v.UpdatedAt.Equal(start))

	got, err := f.get.Handle(ctx, app.GetPreferences{UserID: "ann"})
	require.NoError(t, err)
	assert.Equal(t, v, got, "GET shows what PUT answered")
}

func TestUpdateReplacesSoALeftOutTypeReturnsToItsDefault(t *testing.T) {
	t.Parallel()
	f := newPrefs(t)
	ctx := context.Background()
	_, err := f.update.Handle(ctx, app.UpdatePreferences{
		UserID:   "ann",
		Channels: map[string]bool{"email": false},
		Types:    map[string]bool{"new_movies": false, "reactions": false},
	})
	require.NoError(t, err)
	f.clock.Advance(time.Hour)

	v, err := f.update.Handle(ctx, app.UpdatePreferences{UserID: "ann", Types: map[string]bool{"reactions": false}})

	require.NoError(t, err)
	assert.True(t, v.Channels["email"], "email left out: back to its default")
	assert.True(t, v.Types["new_movies"], "new_movies left out: back to its default")
	assert.False(t, v.Types["reactions"])
	assert.True(t, v.UpdatedAt.Equal(start.Add(time.Hour)))
	stored, _, err := f.store.Get(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, domain.Overrides{Types: map[string]bool{"reactions": false}}, stored.Overrides)
}

func TestOptingOutOfAMandatoryTypeIsAcceptedWithoutEffect(t *testing.T) {
	t.Parallel()
	f := newPrefs(t)

	v, err := f.update.Handle(context.Background(), app.UpdatePreferences{
		UserID: "ann",
		Types:  map[string]bool{"phone_confirmation": false},
	})

	require.NoError(t, err)
	assert.True(t, v.Types["phone_confirmation"])
	assert.Contains(t, v.Mandatory, "phone_confirmation")
}

func TestUpdateRefusesBadInputNamingEveryFieldAndStoresNothing(t *testing.T) {
	t.Parallel()
	f := newPrefs(t)
	ctx := context.Background()

	_, err := f.update.Handle(ctx, app.UpdatePreferences{
		UserID:   "ann",
		Channels: map[string]bool{"fax": true},
		Types:    map[string]bool{"New-Movies": false},
	})

	var invalid *domain.InvalidInputError
	require.ErrorAs(t, err, &invalid)
	var fields []string
	for _, fe := range invalid.Fields {
		fields = append(fields, fe.Field)
	}
	assert.Equal(t, []string{"channels.fax", "types.New-Movies"}, fields)
	_, found, err := f.store.Get(ctx, "ann")
	require.NoError(t, err)
	assert.False(t, found)

	_, err = f.update.Handle(ctx, app.UpdatePreferences{UserID: ""})
	require.ErrorAs(t, err, &invalid)
	assert.Equal(t, "user_id", invalid.Fields[0].Field)
}

func TestUpdatePreferencesHandlerRejectsNilDependencies(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, configuredDefaults())
	_, err := app.NewUpdatePreferencesHandler(nil, p, newPrefs(t).clock)
	assert.Error(t, err)
	_, err = app.NewUpdatePreferencesHandler(memory.NewStore(), nil, newPrefs(t).clock)
	assert.Error(t, err)
	_, err = app.NewUpdatePreferencesHandler(memory.NewStore(), p, nil)
	assert.Error(t, err)
}
