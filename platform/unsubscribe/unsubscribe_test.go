package unsubscribe_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/unsubscribe"
)

const (
	oldKey = "an-old-key-of-at-least-thirty-two-bytes"
	newKey = "a-new-key-of-at-least-thirty-two-bytes!"
)

var anna = unsubscribe.Subject{UserID: "3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11", Type: "new_movies", Channel: "email"}

func signer(t *testing.T, keys ...string) *unsubscribe.Signer {
	t.Helper()
	s, err := unsubscribe.New(keys...)
	require.NoError(t, err)
	return s
}

func TestATokenNamesItsSubjectAndIsURLSafe(t *testing.T) {
	t.Parallel()
	s := signer(t, newKey)
	token, err := s.Sign(anna)
	require.NoError(t, err)
	assert.NotContains(t, token, "new_movies", "the subject is encoded, not spelled out")
	for _, r := range token {
		assert.True(t, strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", r), "%q is URL-safe", r)
	}
	got, err := s.Verify(token)
	require.NoError(t, err)
	assert.Equal(t, anna, got)
}

func TestTheFirstKeySignsAndEveryKeyVerifies(t *testing.T) {
	t.Parallel()
	before, err := signer(t, oldKey).Sign(anna)
	require.NoError(t, err)
	rotated := signer(t, newKey, oldKey)

	got, err := rotated.Verify(before)
	require.NoError(t, err, "a link signed before the rotation still works")
	assert.Equal(t, anna, got)

	after, err := rotated.Sign(anna)
	require.NoError(t, err)
	_, err = signer(t, newKey).Verify(after)
	require.NoError(t, err, "the new key signs")
	_, err = signer(t, oldKey).Verify(after)
	require.ErrorIs(t, err, unsubscribe.ErrInvalid)
	_, err = signer(t, newKey).Verify(before)
	require.ErrorIs(t, err, unsubscribe.ErrInvalid, "once the old key is dropped, its links stop working")
}

func TestForgedAlteredAndMalformedTokensAreInvalid(t *testing.T) {
	t.Parallel()
	s := signer(t, newKey)
	token, err := s.Sign(anna)
	require.NoError(t, err)
	payload, sig, _ := strings.Cut(token, ".")
	other, err := s.Sign(unsubscribe.Subject{UserID: "bob", Type: "new_movies", Channel: "email"})
	require.NoError(t, err)
	otherPayload, _, _ := strings.Cut(other, ".")
	forged, err := signer(t, oldKey).Sign(anna)
	require.NoError(t, err)

	for name, bad := range map[string]string{
		"signed by another key":        forged,
		"another user's subject":       otherPayload + "." + sig,
		"a changed last character":     token[:len(token)-1] + flip(token[len(token)-1]),
		"a changed subject character":  flip(payload[0]) + token[1:],
		"no signature":                 payload,
		"an empty signature":           payload + ".",
		"empty":                        "",
		"a dot":                        ".",
		"not base64":                   "!!!.???",
		"too long":                     strings.Repeat("a", 2000) + "." + sig,
		"a subject of two fields only": "YWJj." + sig,
		"two tokens":                   token + "." + sig,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Verify(bad)
			require.ErrorIs(t, err, unsubscribe.ErrInvalid)
		})
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func TestKeysAndSubjectsAreChecked(t *testing.T) {
	t.Parallel()
	_, err := unsubscribe.New()
	require.Error(t, err)
	_, err = unsubscribe.New(newKey, "short")
	require.ErrorContains(t, err, "key 2 is 5 bytes")
	require.NotContains(t, err.Error(), "short", "a key is never shown")

	s := signer(t, newKey)
	for _, bad := range []unsubscribe.Subject{
		{Type: "new_movies", Channel: "email"},
		{UserID: "u", Channel: "email"},
		{UserID: "u", Type: "new_movies"},
		{UserID: "u\x1fnew_movies", Type: "x", Channel: "email"},
	} {
		_, err := s.Sign(bad)
		assert.Error(t, err, "%+v", bad)
	}
}

func TestLinksPointAtThePublicURLAndReadBack(t *testing.T) {
	t.Parallel()
	links, err := unsubscribe.NewLinks(signer(t, newKey), "https://notifier.example.com/")
	require.NoError(t, err)
	link, err := links.URL(anna)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link, "https://notifier.example.com/api/v1/unsubscribe?token="), link)
	got, err := links.Verify(strings.TrimPrefix(link, "https://notifier.example.com/api/v1/unsubscribe?token="))
	require.NoError(t, err)
	assert.Equal(t, anna, got)

	for _, base := range []string{"", "notifier.example.com", "ftp://x.example", "https://"} {
		_, err := unsubscribe.NewLinks(signer(t, newKey), base)
		assert.Error(t, err, base)
	}
	_, err = unsubscribe.NewLinks(nil, "https://x.example")
	assert.Error(t, err)

	k1, err := unsubscribe.RandomKey()
	require.NoError(t, err)
	k2, err := unsubscribe.RandomKey()
	require.NoError(t, err)
	assert.NotEqual(t, k1, k2)
	_, err = unsubscribe.New(k1)
	assert.NoError(t, err, "a random key is long enough")
}
