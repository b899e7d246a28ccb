package notifiertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
)

func TestEveryAPICallNeedsAValidTokenWithTheRightRole(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := seed(t, "posting_email_confirmation.json", "<uuid>", anna)

	cases := []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"no token", http.MethodPost, "/api/v1/postings", "", body, http.StatusUnauthorized},
		{"wrong token", http.MethodPost, "/api/v1/postings", "not-a-real-token", body, http.StatusUnauthorized},
		{"no token for events", http.MethodPost, "/api/v1/events", "", `{}`, http.StatusUnauthorized},
		{"service reading preferences", http.MethodGet, "/api/v1/users/" + anna + "/preferences", notifiertest.ServiceToken, nil, http.StatusForbidden},
		{"service previewing templates", http.MethodPost, "/api/v1/templates/preview", notifiertest.ServiceToken, `{"template":"sms/phone_confirmation.md","context":{}}`, http.StatusForbidden},
		{"manager reading preferences", http.MethodGet, "/api/v1/users/" + anna + "/preferences", notifiertest.ManagerToken, nil, http.StatusOK},
		{"admin reading preferences", http.MethodGet, "/api/v1/users/" + anna + "/preferences", notifiertest.AdminToken, nil, http.StatusOK},
		{"health needs no token", http.MethodGet, "/healthz", "", nil, http.StatusOK},
		{"readiness needs no token", http.MethodGet, "/readyz", "", nil, http.StatusOK},
		{"docs need no token", http.MethodGet, "/docs", "", nil, http.StatusOK},
		{"openapi needs no token", http.MethodGet, "/openapi.json", "", nil, http.StatusOK},
	}
	for _, tc := range cases {
		resp := n.Do(t, tc.method, tc.path, tc.token, tc.body)
		require.Equal(t, tc.want, resp.Status, "%s: %s", tc.name, resp.Body)
		if tc.want >= 400 {
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), tc.name)
		}
	}
	require.Empty(t, n.Outbox.Messages(), "refused calls send nothing")
}

func TestBadPostingsGetAClearErrorNamingTheField(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	valid := `"receivers": "http://auth/api/v1/users/?id=` + anna + `", "template": "email/email_confirmation.md", "delivery_type": ["email"]`

	cases := []struct {
		name  string
		body  string
		want  int
		field string
	}{
		{"malformed JSON", `{"receivers": `, http.StatusBadRequest, ""},
		{"missing receivers", `{"template": "email/email_confirmation.md", "delivery_type": ["email"]}`, http.StatusUnprocessableEntity, "receivers"},
		{"unknown field", `{` + valid + `, "colour": "red"}`, http.StatusUnprocessableEntity, "colour"},
		{"bad expires_in", `{` + valid + `, "expires_in": "soonish"}`, http.StatusUnprocessableEntity, "expires_in"},
		{"unknown template", `{"receivers": "http://auth/api/v1/users/?id=x", "template": "email/nope.md", "delivery_type": ["email"]}`, http.StatusUnprocessableEntity, "template"},
		{"unknown delivery type", `{"receivers": "http://auth/api/v1/users/?id=x", "template": "email/email_confirmation.md", "delivery_type": ["pigeon"]}`, http.StatusUnprocessableEntity, "delivery_type"},
		{"receivers on a host not configured", `{"receivers": "http://evil.example/users", "template": "email/email_confirmation.md", "delivery_type": ["email"]}`, http.StatusUnprocessableEntity, "receivers"},
	}
	for _, tc := range cases {
		resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, tc.body)
		require.Equal(t, tc.want, resp.Status, "%s: %s", tc.name, resp.Body)
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), tc.name)
		require.Contains(t, string(resp.Body), tc.field, tc.name)
	}
	list := n.Do(t, http.MethodGet, "/api/v1/postings", notifiertest.ServiceToken, nil)
	require.Equal(t, http.StatusOK, list.Status)
	require.Empty(t, list.Map(t)["items"], "bad input creates nothing")
}

func TestBadEventsOverHTTPGetAClearError(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	cases := []struct {
		name, body string
		want       int
		field      string
	}{
		{"malformed JSON", `{"event": `, http.StatusBadRequest, ""},
		{"unknown event type", `{"from_service": "auth", "event": "user_deleted", "details": {}}`, http.StatusUnprocessableEntity, "event"},
		{"missing details", `{"from_service": "auth", "event": "user_signed_up"}`, http.StatusUnprocessableEntity, "details"},
		{"details without the user", `{"from_service": "auth", "event": "user_signed_up", "details": {"username": "x"}}`, http.StatusUnprocessableEntity, "user"},
	}
	for _, tc := range cases {
		resp := n.Do(t, http.MethodPost, "/api/v1/events", notifiertest.ServiceToken, tc.body)
		require.Equal(t, tc.want, resp.Status, "%s: %s", tc.name, resp.Body)
		require.Contains(t, string(resp.Body), tc.field, tc.name)
	}
}

func TestOversizedBodiesAreRefused(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	huge := `{"from_service": "auth", "event": "user_signed_up", "details": {"username": "` + strings.Repeat("x", 2<<20) + `"}}`

	resp := n.Do(t, http.MethodPost, "/api/v1/events", notifiertest.ServiceToken, huge)

	require.Equal(t, http.StatusRequestEntityTooLarge, resp.Status)
}

func TestTemplatePreviewRendersBothParts(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	resp := n.Do(t, http.MethodPost, "/api/v1/templates/preview", notifiertest.ManagerToken, `{
		"template": "email/new_movies.md",
		"context": {"user": {"first_name": "<Анна>"}, "movies": [{"title": "Чебурашка", "year": 2023}]}
	}`)

	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	out := resp.Map(t)
	require.Contains(t, out["text"], "<Анна>")
	require.Contains(t, out["html"], "&lt;Анна&gt;")
	require.NotContains(t, out["html"], "<Анна>")
	require.Contains(t, out["subject"], "Чебурашка")

	unknown := n.Do(t, http.MethodPost, "/api/v1/templates/preview", notifiertest.ManagerToken, `{"template": "email/nope.md", "context": {}}`)
	require.GreaterOrEqual(t, unknown.Status, 400)
	require.Less(t, unknown.Status, 500)
	require.Contains(t, string(unknown.Body), "template")
}

func TestPreferencesRoundTrip(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	path := "/api/v1/users/" + vera + "/preferences"

	got := n.Do(t, http.MethodGet, path, notifiertest.ManagerToken, nil).Map(t)
	require.Equal(t, true, got["channels"].(map[string]any)["email"])
	require.Equal(t, true, got["types"].(map[string]any)["new_movies"])

	put := n.Do(t, http.MethodPut, path, notifiertest.ManagerToken, `{"channels": {"sms": false}, "types": {"new_movies": false}}`)
	require.Equal(t, http.StatusOK, put.Status, string(put.Body))
	got = n.Do(t, http.MethodGet, path, notifiertest.ManagerToken, nil).Map(t)
	require.Equal(t, false, got["channels"].(map[string]any)["sms"])
	require.Equal(t, true, got["channels"].(map[string]any)["email"], "left out: the default")
	require.Equal(t, false, got["types"].(map[string]any)["new_movies"])

	bad := n.Do(t, http.MethodPut, path, notifiertest.ManagerToken, `{"channels": {"fax": true}}`)
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status, string(bad.Body))
	require.Contains(t, string(bad.Body), "fax")
}
