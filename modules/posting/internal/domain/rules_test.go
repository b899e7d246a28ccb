package domain_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
)

func TestExpiresInReadsTheFormsCallersUse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"120 sec", 120 * time.Second},
		{"2 min", 2 * time.Minute},
		{"120s", 120 * time.Second},
		{"1h", time.Hour},
		{"90", 90 * time.Second},
		{" 3 days ", 72 * time.Hour},
		{"5 Minutes", 5 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"1 hour", time.Hour},
	}
	for _, tc := range tests {
		got, err := domain.ParseExpiresIn(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{"", "soon", "0", "0 sec", "-5", "-1h", "12 parsecs", "sec", "400 days", "99999999999999999999", "1.5.2h"} {
		_, err := domain.ParseExpiresIn(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestExpiresInSecondsMustBePositiveAndBounded(t *testing.T) {
	t.Parallel()
	got, err := domain.ExpiresInSeconds(120)
	require.NoError(t, err)
	require.Equal(t, 120*time.Second, got)
	for _, bad := range []float64{0, -1, 1e12} {
		_, err := domain.ExpiresInSeconds(bad)
		require.Error(t, err, "%v", bad)
	}
}

func TestSingleUserReceiversGoOnTheTransactionalLane(t *testing.T) {
	t.Parallel()
	tests := map[string]posting.Priority{
		"http://auth/api/v1/users/?id=1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11":               posting.PriorityTransactional,
		"https://auth/api/v1/users/1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11/":                 posting.PriorityTransactional,
		"https://auth/api/v1/users/1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11":                  posting.PriorityTransactional,
		"http://auth/api/v1/users/?is_active=True&email_notifications=True&page_number=1": posting.PriorityBulk,
		"http://auth/api/v1/users/?id=1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11,2d6f3e5b-7c9a": posting.PriorityBulk,
		"http://auth/api/v1/users/?id=a&id=b":                                             posting.PriorityBulk,
		"http://auth/api/v1/users/":                                                       posting.PriorityBulk,
		"http://auth/api/v1/users/?review_id=b15c2b4e":                                    posting.PriorityBulk,
	}
	for receivers, want := range tests {
		require.Equal(t, want, domain.DefaultPriority(receivers), receivers)
	}
}

func TestTemplatesAndTypesFollowTheTemplateName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "new_movies", domain.DefaultNotificationType("email/new_movies.md"))
	require.Equal(t, "phone_confirmation", domain.DefaultNotificationType("sms/phone_confirmation.md"))
	require.Equal(t, "email/welcome.md", domain.TemplateFor("email/welcome.md", "email"))
	require.Equal(t, "sms/welcome.md", domain.TemplateFor("email/welcome.md", "sms"))
}

func TestDefaultKeyIgnoresChannelOrderButNotContent(t *testing.T) {
	t.Parallel()
	a := domain.DefaultIdempotencyKey("e", "email/welcome.md", "http://auth/api/v1/users/", []string{"email", "sms"})
	b := domain.DefaultIdempotencyKey("e", "email/welcome.md", "http://auth/api/v1/users/", []string{"sms", "email"})
	c := domain.DefaultIdempotencyKey("e2", "email/welcome.md", "http://auth/api/v1/users/", []string{"sms", "email"})
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
}

func TestCursorRoundTrips(t *testing.T) {
	t.Parallel()
	p := domain.New([16]byte{1, 2, 3}, domain.Spec{IdempotencyKey: "k"}, time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC))
	c := domain.CursorOf(p)
	got, err := domain.DecodeCursor(c.Encode())
	require.NoError(t, err)
	require.Equal(t, c, got)
	_, err = domain.DecodeCursor("bm90LWEtY3Vyc29y")
	require.Error(t, err)
}
