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

func TestFingerprintIgnoresFormAndChannelOrderButNotContent(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	phoneCode := func(code string) domain.Request {
		return domain.Request{
			FromEvent: "event_id", FromService: "api", Receivers: "http://auth/api/v1/users/?id=u1",
			Template: "sms/phone_confirmation.md", Channels: []string{"sms", "email"},
			TemplateContext: map[string]any{"secret_code": code, "nested": map[string]any{"b": 1.0, "a": []any{"x"}}},
			ExpiresIn:       120 * time.Second, SendAt: &at,
		}
	}
	fp := func(r domain.Request) string {
		t.Helper()
		got, err := r.Fingerprint()
		require.NoError(t, err)
		return got
	}
	base := fp(phoneCode("1234"))
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, base)

	same := phoneCode("1234")
	same.Channels = []string{"email", "sms", "sms"}
	same.Receivers = "  http://auth/api/v1/users/?id=u1 "
	moscow := at.In(time.FixedZone("MSK", 3*3600))
	same.SendAt = &moscow
	same.TemplateContext = map[string]any{"nested": map[string]any{"a": []any{"x"}, "b": 1}, "secret_code": "1234"}
	require.Equal(t, base, fp(same), "channel order, spacing, key order, number type and time zone do not count")

	later := at.Add(time.Second)
	for name, change := range map[string]func(*domain.Request){
		"another secret code": func(r *domain.Request) { r.TemplateContext["secret_code"] = "5678" },
		"a nested change":     func(r *domain.Request) { r.TemplateContext["nested"] = map[string]any{"b": 2.0} },
		"no context":          func(r *domain.Request) { r.TemplateContext = nil },
		"another event":       func(r *domain.Request) { r.FromEvent = "event_2" },
		"another sender":      func(r *domain.Request) { r.FromService = "auth" },
		"another template":    func(r *domain.Request) { r.Template = "sms/welcome.md" },
		"another receiver":    func(r *domain.Request) { r.Receivers = "http://auth/api/v1/users/?id=u2" },
		"fewer channels":      func(r *domain.Request) { r.Channels = []string{"sms"} },
		"a type":              func(r *domain.Request) { r.NotificationType = "promo" },
		"a priority":          func(r *domain.Request) { r.Priority = "bulk" },
		"another send_at":     func(r *domain.Request) { r.SendAt = &later },
		"no send_at":          func(r *domain.Request) { r.SendAt = nil },
		"another expires_in":  func(r *domain.Request) { r.ExpiresIn = time.Minute },
		"an expires_at":       func(r *domain.Request) { r.ExpiresIn, r.ExpiresAt = 0, &later },
		"a webhook URL":       func(r *domain.Request) { r.WebhookURL = "https://hooks.example.com/x" },
	} {
		r := phoneCode("1234")
		change(&r)
		require.NotEqual(t, base, fp(r), name)
	}

	// A request without a webhook URL has the fingerprint it had before
	// the field existed, so that keys stored then still match a repeat.
	// (computed by the version before it).
	require.Equal(t, "sha256:72586a39066023a9c551344ba43b94e017408e8e1d9142281e396d9337ef48f9", base)
	blank := phoneCode("1234")
	blank.WebhookURL = "  "
	require.Equal(t, base, fp(blank), "a blank webhook URL is none")

	_, err := domain.Request{TemplateContext: map[string]any{"f": func() {}}}.Fingerprint()
	require.Error(t, err, "a context that is not JSON")
}

func TestAPostingWithoutFingerprintMatchesAnyRepeat(t *testing.T) {
	t.Parallel()
	p := domain.New([16]byte{1}, domain.Spec{IdempotencyKey: "k", RequestFingerprint: "sha256:a"}, time.Now())
	require.True(t, p.SameRequest("sha256:a"))
	require.False(t, p.SameRequest("sha256:b"))
	p.RequestFingerprint = ""
	require.True(t, p.SameRequest("sha256:b"), "made before fingerprints were kept")
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
