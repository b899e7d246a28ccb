package ports_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// webhookCode is the seed's phone code, sent to a webhook instead.
func webhookCode(t *testing.T, url string) map[string]any {
	t.Helper()
	b := body(t, seedPhoneCode)
	b["delivery_type"] = []string{"webhook"}
	b["webhook_url"] = url
	return b
}

func TestAPostingForTheWebhookChannelCarriesItsURLToTheAudienceWalk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	resp := f.api.Post("/api/v1/postings", webhookCode(t, "https://crm.example.com/hooks/notifier?token=s3cret"))

	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	require.Contains(t, resp.Body.String(), `"delivery_type":["webhook"]`)
	require.NotContains(t, resp.Body.String(), "s3cret", "the URL is write-only: it may hold a credential")
	again := f.api.Post("/api/v1/postings", webhookCode(t, "https://crm.example.com/hooks/notifier?token=s3cret"))
	require.Equal(t, http.StatusOK, again.Code, "the same request: the same posting")
	other := f.api.Post("/api/v1/postings", webhookCode(t, "https://crm.example.com/hooks/other"))
	require.Equal(t, http.StatusCreated, other.Code, "another URL is another request")
}

func TestAWebhookURLThatCannotBeUsedIsRefusedWith422(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := map[string]struct {
		url, want string
	}{
		"not a URL":            {"hooks", "want an absolute http:// or https:// URL"},
		"not http":             {"ftp://hooks.example.com/x", "want an absolute http:// or https:// URL"},
		"javascript":           {"javascript:alert(1)", "want an absolute http:// or https:// URL"},
		"no host":              {"https:///x", "has no host"},
		"user and password":    {"https://anna:pa55@hooks.example.com/x", "may not hold a user name or password"},
		"fragment":             {"https://hooks.example.com/x#y", "may not have a fragment"},
		"bad port":             {"https://hooks.example.com:99999/x", "has an invalid port"},
		"spaces":               {"https://hooks.example.com/a b", "is not a valid URL"},
		"loopback":             {"http://127.0.0.1:8080/api/v1/postings", "127.0.0.1 is a loopback address"},
		"localhost":            {"http://localhost/x", `host \"localhost\" is this machine`},
		"private":              {"http://10.0.0.8/x", "10.0.0.8 is a private address"},
		"the metadata service": {"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
		"IPv6 loopback":        {"http://[::1]/x", "::1 is a loopback address"},
		"too long":             {"https://hooks.example.com/" + strings.Repeat("a", 2048), "webhook_url"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp := f.api.Post("/api/v1/postings", webhookCode(t, tc.url))
			require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
			require.Contains(t, resp.Header().Get("Content-Type"), "problem+json")
			require.Contains(t, resp.Body.String(), "body.webhook_url")
			require.Contains(t, resp.Body.String(), tc.want)
			require.NotContains(t, resp.Body.String(), "pa55")
		})
	}

	b := body(t, seedPhoneCode) // sms only
	b["webhook_url"] = "https://hooks.example.com/x"
	resp := f.api.Post("/api/v1/postings", b)
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	require.Contains(t, resp.Body.String(), "is for the webhook channel, which delivery_type does not name")
	require.Empty(t, f.bus.all(), "nothing was accepted")
}

func TestTheWebhookChannelIsOneOfAPostingsChannels(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := body(t, seedPhoneCode)
	b["delivery_type"] = []string{"sms", "webhook", "email"}
	b["template"] = "webhook/phone_confirmation.md"

	resp := f.api.Post("/api/v1/postings", b)

	// There is no email/phone_confirmation.md: the posting names it.
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	require.Contains(t, resp.Body.String(), `no template \"email/phone_confirmation.md\" for channel email`)
	b["delivery_type"] = []string{"sms", "webhook"}
	resp = f.api.Post("/api/v1/postings", b)
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
}
