package console

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	managerToken = "manager-token-0001"
	serviceToken = "service-token-0001"
)

// fakeAPI answers the console's API calls and records them.
type fakeAPI struct {
	calls  []string
	auth   []string
	bodies []string
	types  []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	body, _ := io.ReadAll(r.Body)
	f.bodies = append(f.bodies, string(body))
	f.types = append(f.types, r.Header.Get("Content-Type"))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/api/v1/postings" && r.Method == http.MethodPost:
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id": "p9", "status": "accepted"}`)
	case r.URL.Path == "/api/v1/templates/preview":
		var in struct{ Template string }
		_ = json.Unmarshal(body, &in)
		_, _ = io.WriteString(w, `{"subject": "Title of `+in.Template+`", "text": "Body of `+in.Template+`", "html": "<p>x</p>"}`)
	case r.URL.Path == "/api/v1/postings" && r.Method == http.MethodGet:
		_, _ = io.WriteString(w, `{"items": [{"id": "p1", "status": "dispatching", "notification_type": "promo", "created_at": "2026-12-06T10:00:00Z",
			"counters": {"recipients": 100, "sent": 40, "skipped": 10}}]}`)
	case r.URL.Path == "/api/v1/users/u2/preferences":
		_, _ = io.WriteString(w, `{"user_id": "u2", "channels": {"email": true}, "types": {"reactions": true}, "mandatory": []}`)
	case r.URL.Path == "/api/v1/users/u2/deliveries":
		_, _ = io.WriteString(w, `{"items": [{"posting_id": "digest:7d9f", "channel": "email", "status": "sent", "attempts": 1},
			{"posting_id": "p7", "channel": "email", "status": "sent", "attempts": 1}]}`)
	case r.URL.Path == "/api/v1/users/u2/digests":
		_, _ = io.WriteString(w, `{"items": [{"id": "8e0a", "notification_type": "reactions", "channel": "email", "held": 3,
			"due_at": "2026-12-06T13:00:00Z", "created_at": "2026-12-06T12:00:00Z"}]}`)
	case r.URL.Path == "/api/v1/webhooks/h1" && r.Method == http.MethodGet:
		_, _ = io.WriteString(w, `{"id": "h1", "url": "https://crm.example.com/hooks", "description": "CRM",
			"events": ["delivery.sent", "posting.completed"], "enabled": true, "created_at": "2026-12-06T10:00:00Z"}`)
	case r.URL.Path == "/api/v1/webhooks/h1" && r.Method == http.MethodPatch:
		if strings.Contains(string(body), "ftp:") {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"title": "Unprocessable Entity", "status": 422, "detail": "validation failed",
				"errors": [{"location": "body.url", "message": "want an absolute http:// or https:// URL"}]}`)
			return
		}
		_, _ = io.WriteString(w, `{"id": "h1"}`)
	case strings.HasSuffix(r.URL.Path, "/cancel"):
		_, _ = io.WriteString(w, `{"id": "p1", "status": "cancelled"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"title": "Not Found", "status": 404, "detail": "no such thing"}`)
	}
}

func newConsole(t *testing.T, now time.Time) (*Console, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{}
	c, err := New(Config{API: api, Tokens: "manager:" + managerToken + ",service:" + serviceToken,
		Templates: []string{"email/welcome.md", "sms/phone_confirmation.md"}, Key: []byte("test key"), Now: func() time.Time { return now }},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	return c, api
}

func do(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func signIn(t *testing.T, h http.Handler, token string) (*httptest.ResponseRecorder, *http.Cookie) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/console/login", strings.NewReader(url.Values{"token": {token}, "next": {"/console/postings?status=failed"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := do(h, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == sessionCookie {
			return rec, ck
		}
	}
	return rec, nil
}

func csrfOf(t *testing.T, c *Console, ck *http.Cookie) string {
	t.Helper()
	s, err := c.sealer.open(ck.Value, c.now())
	require.NoError(t, err)
	return s.CSRF
}

var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func TestSigningInSetsAStrictHttpOnlyCookieAndGoesWhereItWasGoing(t *testing.T) {
	t.Parallel()
	c, api := newConsole(t, now)
	h := c.Handler()

	rec, ck := signIn(t, h, managerToken)

	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/console/postings?status=failed", rec.Header().Get("Location"))
	require.NotNil(t, ck)
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.False(t, ck.Secure, "plain HTTP here")
	assert.Equal(t, "/console", ck.Path)
	assert.NotContains(t, ck.Value, managerToken, "the token is sealed")

	req := httptest.NewRequest(http.MethodGet, "/console/postings", nil)
	req.AddCookie(ck)
	page := do(h, req)
	require.Equal(t, http.StatusOK, page.Code)
	assert.Contains(t, page.Body.String(), "promo")
	assert.Contains(t, page.Body.String(), `aria-valuenow="50"`, "50 of 100 done")
	assert.Contains(t, page.Body.String(), `hx-trigger="every 2s"`, "a running posting refreshes")
	assert.Equal(t, []string{"Bearer " + managerToken}, api.auth, "the API is called as the signed-in manager")

	tls := httptest.NewRequest(http.MethodPost, "/console/login", strings.NewReader("token="+managerToken))
	tls.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tls.Header.Set("X-Forwarded-Proto", "https")
	for _, k := range do(h, tls).Result().Cookies() {
		assert.True(t, k.Secure, "Secure over TLS")
	}
}

func TestOnlyManagersAndAdminsSignIn(t *testing.T) {
	t.Parallel()
	c, _ := newConsole(t, now)
	for _, token := range []string{serviceToken, "unknown-token-123", ""} {
		rec, ck := signIn(t, c.Handler(), token)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, token)
		assert.Nil(t, ck, token)
		assert.Contains(t, rec.Body.String(), "not a manager")
	}
}

func TestPagesNeedASessionAndFormsTheirCSRFToken(t *testing.T) {
	t.Parallel()
	c, api := newConsole(t, now)
	h := c.Handler()
	_, ck := signIn(t, h, managerToken)

	rec := do(h, httptest.NewRequest(http.MethodGet, "/console/postings", nil))
	assert.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/console/login?next=%2Fconsole%2Fpostings", rec.Header().Get("Location"))

	forged := httptest.NewRequest(http.MethodGet, "/console/postings", nil)
	forged.AddCookie(&http.Cookie{Name: sessionCookie, Value: ck.Value[:len(ck.Value)-2] + "AA"})
	assert.Equal(t, http.StatusSeeOther, do(h, forged).Code, "an altered cookie is no session")

	expired, _ := newConsole(t, now.Add(sessionTTL+time.Minute))
	expired.sealer = c.sealer
	late := httptest.NewRequest(http.MethodGet, "/console/postings", nil)
	late.AddCookie(ck)
	assert.Equal(t, http.StatusSeeOther, do(expired.Handler(), late).Code, "an expired session")

	for name, form := range map[string]url.Values{"no token": {}, "a wrong token": {"csrf": {"guess"}}} {
		req := httptest.NewRequest(http.MethodPost, "/console/postings/p1/cancel", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(ck)
		rec := do(h, req)
		assert.Equal(t, http.StatusForbidden, rec.Code, name)
	}
	assert.NotContains(t, api.calls, "POST /api/v1/postings/p1/cancel", "nothing was cancelled")

	req := httptest.NewRequest(http.MethodPost, "/console/postings/p1/cancel", strings.NewReader(url.Values{"csrf": {csrfOf(t, c, ck)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(ck)
	rec = do(h, req)
	assert.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Contains(t, api.calls, "POST /api/v1/postings/p1/cancel")
	assert.Contains(t, rec.Header().Get("Location"), "Cancelled.")
}

func TestRedirectsAfterSignInStayInTheConsole(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/console/users/u1":   "/console/users/u1",
		"https://evil.test/":  "/console/postings",
		"//evil.test/console": "/console/postings",
		"/console/\\evil":     "/console/postings",
		"/api/v1/postings":    "/console/postings",
	} {
		assert.Equal(t, want, safeNext(next), next)
	}
}

func TestEveryResponseForbidsFramingAndForeignScripts(t *testing.T) {
	t.Parallel()
	c, _ := newConsole(t, now)
	rec := do(c.Handler(), httptest.NewRequest(http.MethodGet, "/console/login", nil))
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "script-src 'self'")
	assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'")
	js := do(c.Handler(), httptest.NewRequest(http.MethodGet, "/console/static/htmx.min.js", nil))
	assert.Equal(t, http.StatusOK, js.Code)
	assert.True(t, strings.HasPrefix(js.Body.String(), "var htmx="), "htmx is served from the binary")
}

func TestAnHTMXRequestWithoutASessionIsToldToSignIn(t *testing.T) {
	t.Parallel()
	c, _ := newConsole(t, now)
	req := httptest.NewRequest(http.MethodGet, "/console/postings", nil)
	req.Header.Set("HX-Request", "true")
	rec := do(c.Handler(), req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "/console/login", rec.Header().Get("HX-Redirect"))
}

func TestARunningPostingsRateAndTimeLeft(t *testing.T) {
	t.Parallel()
	p := posting{Status: "dispatching", CreatedAt: now.Add(-10 * time.Second)}
	p.Counters.Recipients, p.Counters.Sent, p.Counters.Skipped = 1000, 150, 50
	assert.InDelta(t, 20.0, p.Rate(now), 0.001, "200 outcomes in 10 s")
	assert.Equal(t, "40s", p.Left(now), "800 left at 20/s")
	p.Status = "completed"
	assert.Zero(t, p.Rate(now))
	assert.Empty(t, p.Left(now))

	// Scheduled an hour ago for 10 s ago: its rate counts from then.
	sendAt := now.Add(-10 * time.Second)
	scheduled := posting{Status: "dispatching", CreatedAt: now.Add(-time.Hour), SendAt: &sendAt}
	scheduled.Counters.Recipients, scheduled.Counters.Sent = 1000, 200
	assert.InDelta(t, 20.0, scheduled.Rate(now), 0.001, "200 outcomes in the 10 s since send_at, not in the hour")
	assert.Equal(t, "40s", scheduled.Left(now))
}

func TestAUsersPageShowsWhatIsHeldForDigestsAndNoPostingLinkForADigest(t *testing.T) {
	t.Parallel()
	c, _ := newConsole(t, now)
	h := c.Handler()
	_, ck := signIn(t, h, managerToken)
	require.NotNil(t, ck)
	req := httptest.NewRequest(http.MethodGet, "/console/users/u2", nil)
	req.AddCookie(ck)
	rec := do(h, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	body := rec.Body.String()
	assert.Contains(t, body, `<a href="/console/postings/p7">p7</a>`)
	assert.NotContains(t, body, `/console/postings/digest:7d9f`, "a digest's message has no posting page")
	assert.Contains(t, body, "digest:7d9f")
	assert.Contains(t, body, "Held for digests")
	assert.Contains(t, body, "<td>reactions</td><td>email</td><td>3</td>")
}

func TestAMailingFromTheConsoleMayGoInAppAndToAWebhook(t *testing.T) {
	t.Parallel()
	c, api := newConsole(t, now)
	h := c.Handler()
	_, ck := signIn(t, h, managerToken)
	require.NotNil(t, ck)
	form := url.Values{"csrf": {csrfOf(t, c, ck)}, "template": {"email/welcome.md"}, "receivers": {"http://auth/api/v1/users/?id=u1"},
		"channels": {"email", "inapp", "webhook"}, "webhook_url": {" https://hooks.example.com/n "}, "context": {"{}"}}

	preview := httptest.NewRequest(http.MethodPost, "/console/mailings/preview", strings.NewReader(form.Encode()))
	preview.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	preview.Header.Set("HX-Request", "true")
	preview.AddCookie(ck)
	rec := do(h, preview)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), "<h2>In-app inbox</h2><p><strong>Title:</strong> Title of inapp/welcome.md</p><pre>Body of inapp/welcome.md</pre>")
	assert.Contains(t, rec.Body.String(), "<h2>Webhook</h2><p><strong>Title:</strong> Title of webhook/welcome.md</p>")

	create := httptest.NewRequest(http.MethodPost, "/console/mailings", strings.NewReader(form.Encode()))
	create.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	create.AddCookie(ck)
	rec = do(h, create)
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	var sent map[string]any
	require.NoError(t, json.Unmarshal([]byte(api.bodies[len(api.bodies)-1]), &sent))
	assert.Equal(t, []any{"email", "inapp", "webhook"}, sent["delivery_type"])
	assert.Equal(t, "https://hooks.example.com/n", sent["webhook_url"])
}

func TestTheWebhookFormSendsOnlyWhatChangedAsAMergePatch(t *testing.T) {
	t.Parallel()
	c, api := newConsole(t, now)
	h := c.Handler()
	_, ck := signIn(t, h, managerToken)
	require.NotNil(t, ck)
	save := func(form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/console/webhooks/h1", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(ck)
		return do(h, req)
	}
	unchanged := func() url.Values {
		return url.Values{"csrf": {csrfOf(t, c, ck)}, "url": {"https://crm.example.com/hooks"},
			"events": {"delivery.sent", "posting.completed"}, "description": {"CRM"}}
	}

	rec := save(unchanged())
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Contains(t, rec.Header().Get("Location"), "Nothing+changed.")
	assert.NotContains(t, api.calls, "PATCH /api/v1/webhooks/h1")

	form := unchanged()
	form.Set("url", " https://crm.example.com/hooks/v2 ")
	form["events"] = []string{"delivery.failed"}
	form.Set("description", "")
	rec = save(form)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/console/webhooks/h1?notice=Saved.", rec.Header().Get("Location"))
	require.Equal(t, "PATCH /api/v1/webhooks/h1", api.calls[len(api.calls)-1])
	assert.Equal(t, "application/merge-patch+json", api.types[len(api.types)-1])
	assert.JSONEq(t, `{"url": "https://crm.example.com/hooks/v2", "events": ["delivery.failed"], "description": null}`,
		api.bodies[len(api.bodies)-1], "an emptied description is removed")

	form = unchanged()
	form.Set("url", "ftp://crm.example.com/hooks")
	rec = save(form)
	assert.Contains(t, rec.Header().Get("Location"), url.QueryEscape("Not saved: validation failed; url: want an absolute http:// or https:// URL"))

	calls := len(api.calls)
	form = unchanged()
	form.Set("csrf", "guess")
	assert.Equal(t, http.StatusForbidden, save(form).Code, "a form without the session's CSRF token")
	assert.Len(t, api.calls, calls, "and nothing was sent")
}
