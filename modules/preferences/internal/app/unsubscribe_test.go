package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/platform/unsubscribe"
)

func newUnsubscribe(t *testing.T) (*prefsFixture, *app.UnsubscribeHandler, *unsubscribe.Signer) {
	t.Helper()
	f := newPrefs(t)
	signer, err := unsubscribe.New("app-test-unsubscribe-key-of-32-bytes!!")
	require.NoError(t, err)
	h, err := app.NewUnsubscribeHandler(signer, f.store, f.clock)
	require.NoError(t, err)
	return f, h, signer
}

func TestUnsubscribeTurnsOffThatTypeOnThatChannelOnly(t *testing.T) {
	t.Parallel()
	f, h, signer := newUnsubscribe(t)
	ctx := context.Background()
	_, err := f.patch.Handle(ctx, app.PatchPreferences{UserID: "ann", Patch: []byte(`{"types": {"reactions": false}}`)})
	require.NoError(t, err)
	token, err := signer.Sign(unsubscribe.Subject{UserID: "ann", Type: "new_movies", Channel: "email"})
	require.NoError(t, err)

	s, err := h.Subject(token)
	require.NoError(t, err)
	assert.Equal(t, "new_movies", s.Type)
	v, err := f.get.Handle(ctx, app.GetPreferences{UserID: "ann"})
	require.NoError(t, err)
	assert.Empty(t, v.PerType, "reading a token changes nothing")

	f.clock.Advance(time.Minute)
	_, err = h.Handle(ctx, app.Unsubscribe{Token: token})
	require.NoError(t, err)
	v, err = f.get.Handle(ctx, app.GetPreferences{UserID: "ann"})
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]bool{"new_movies": {"email": false}}, v.PerType)
	assert.True(t, v.Types["new_movies"], "the type stays on for other channels")
	assert.True(t, v.Channels["email"], "the channel stays on for other types")
	assert.False(t, v.Types["reactions"], "the user's other choices are kept")
	assert.True(t, v.UpdatedAt.Equal(start.Add(time.Minute)))

	f.clock.Advance(time.Minute)
	_, err = h.Handle(ctx, app.Unsubscribe{Token: token})
	require.NoError(t, err, "a repeat is harmless")
	v, err = f.get.Handle(ctx, app.GetPreferences{UserID: "ann"})
	require.NoError(t, err)
	assert.True(t, v.UpdatedAt.Equal(start.Add(time.Minute)), "and changes nothing")
}

func TestAForgedOrMalformedUnsubscribeTokenChangesNothing(t *testing.T) {
	t.Parallel()
	f, h, _ := newUnsubscribe(t)
	other, err := unsubscribe.New("another-key-that-is-at-least-32-bytes!")
	require.NoError(t, err)
	forged, err := other.Sign(unsubscribe.Subject{UserID: "ann", Type: "new_movies", Channel: "email"})
	require.NoError(t, err)
	for name, token := range map[string]string{"forged": forged, "garbage": "abc", "empty": ""} {
		_, err := h.Handle(context.Background(), app.Unsubscribe{Token: token})
		require.ErrorIs(t, err, app.ErrInvalidToken, name)
		_, err = h.Subject(token)
		require.ErrorIs(t, err, app.ErrInvalidToken, name)
	}
	_, found, err := f.store.Get(context.Background(), "ann")
	require.NoError(t, err)
	assert.False(t, found)
}

func TestAValidlySignedTokenOfNoRealSubjectIsInvalid(t *testing.T) {
	t.Parallel()
	_, h, signer := newUnsubscribe(t)
	for _, s := range []unsubscribe.Subject{
		{UserID: "a b", Type: "new_movies", Channel: "email"},
		{UserID: "ann", Type: "New Movies", Channel: "email"},
		{UserID: "ann", Type: "new_movies", Channel: "fax"},
	} {
		token, err := signer.Sign(s)
		require.NoError(t, err)
		_, err = h.Handle(context.Background(), app.Unsubscribe{Token: token})
		require.ErrorIs(t, err, app.ErrInvalidToken, "%+v", s)
	}
}
