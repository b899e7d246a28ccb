package ports_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/webhooks/internal/adapters/memory"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/modules/webhooks/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/egress"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newAPI serves the webhook routes over a memory store, with the hosts of
// allowed as webhooks.allowed_hosts.
func newAPI(t *testing.T, allowed ...string) (humatest.TestAPI, *memory.Store, *clock.Fake) {
	t.Helper()
	store := memory.New()
	clk := clock.NewFake(at)
	log := slog.New(slog.DiscardHandler)
	policy, err := egress.NewPolicy(allowed)
	require.NoError(t, err)
	h := ports.HTTPHandlers{}
	h.Create, err = app.NewCreateEndpointHandler(store, policy, clk, log)
	require.NoError(t, err)
	h.List, err = app.NewListEndpointsHandler(store)
	require.NoError(t, err)
	h.Get, err = app.NewGetEndpointHandler(store)
	require.NoError(t, err)
	h.Delete, err = app.NewDeleteEndpointHandler(store, log)
	require.NoError(t, err)
	h.Rotate, err = app.NewRotateSecretHandler(store, 24*time.Hour, clk, log)
	require.NoError(t, err)
	h.Enable, err = app.NewEnableEndpointHandler(store, 24*time.Hour, clk, log)
	require.NoError(t, err)
	h.Attempts, err = app.NewListAttemptsHandler(store)
	require.NoError(t, err)
	h.Patch, err = app.NewPatchEndpointHandler(store, policy, clk, log)
	require.NoError(t, err)
	port, err := ports.NewHTTP(h, clk)
	require.NoError(t, err)
	api := humatest.Wrap(t, huma.NewAPI(huma.DefaultConfig("test", "1.0.0"), humago.NewAdapter(http.NewServeMux(), "")))
	port.RegisterRoutes(api)
	return api, store, clk
}

func decode(t *testing.T, body io.Reader) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.NewDecoder(body).Decode(&m))
	return m
}

func create(t *testing.T, api humatest.TestAPI) map[string]any {
	t.Helper()
	resp := api.Post("/api/v1/webhooks", map[string]any{
		"url": "https://crm.example.com/hooks?token=abc", "events": []string{"posting.completed", "delivery.sent", "delivery.sent"},
		"description": "CRM",
	})
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	return decode(t, resp.Body)
}

func TestARegisteredEndpointShowsItsSecretOnceAndItsStateAlways(t *testing.T) {
	t.Parallel()
	api, _, _ := newAPI(t)

	created := create(t, api)

	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, created["secret"], "32 random bytes in base64")
	require.Equal(t, "https://crm.example.com/hooks?token=abc", created["url"])
	require.Equal(t, []any{"delivery.sent", "posting.completed"}, created["events"], "each once, in a stable order")
	require.Equal(t, true, created["enabled"])
	require.Equal(t, "CRM", created["description"])
	require.Equal(t, "2026-03-01T12:00:00Z", created["created_at"])
	id := created["id"].(string)

	got := decode(t, api.Get("/api/v1/webhooks/"+id).Body)
	require.NotContains(t, got, "secret")
	require.Equal(t, 0.0, got["pending_messages"])
	list := decode(t, api.Get("/api/v1/webhooks").Body)
	require.Len(t, list["items"], 1)
	require.NotContains(t, list["items"].([]any)[0], "secret")
	require.NotContains(t, api.Get("/api/v1/webhooks").Body.String(), created["secret"].(string))
}

func TestRotatingGivesANewSecretAndSaysUntilWhenTheOldOneSigns(t *testing.T) {
	t.Parallel()
	api, _, clk := newAPI(t)
	created := create(t, api)
	id := created["id"].(string)
	clk.Advance(time.Minute)

	resp := api.Post("/api/v1/webhooks/" + id + "/rotate")

	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	rotated := decode(t, resp.Body)
	require.NotEqual(t, created["secret"], rotated["secret"])
	require.Regexp(t, `^whsec_`, rotated["secret"])
	require.Equal(t, "2026-03-02T12:01:00Z", rotated["previous_secret_expires_at"])
	require.Equal(t, "2026-03-02T12:01:00Z", decode(t, api.Get("/api/v1/webhooks/"+id).Body)["previous_secret_expires_at"])
	clk.Advance(25 * time.Hour)
	require.NotContains(t, decode(t, api.Get("/api/v1/webhooks/"+id).Body), "previous_secret_expires_at")
}

func TestADisabledEndpointSaysWhyAndCanBeEnabled(t *testing.T) {
	t.Parallel()
	api, store, clk := newAPI(t)
	id := create(t, api)["id"].(string)
	e, err := store.ListEndpoints(t.Context())
	require.NoError(t, err)
	_, err = store.UpdateEndpoint(t.Context(), e[0].ID, func(e *domain.Endpoint) error {
		e.Disable("the endpoint answered 410 Gone", clk.Now())
		return nil
	})
	require.NoError(t, err)

	got := decode(t, api.Get("/api/v1/webhooks/"+id).Body)
	require.Equal(t, false, got["enabled"])
	require.Equal(t, "the endpoint answered 410 Gone", got["disabled_reason"])
	require.Equal(t, "2026-03-01T12:00:00Z", got["disabled_at"])

	resp := api.Post("/api/v1/webhooks/" + id + "/enable")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	got = decode(t, resp.Body)
	require.Equal(t, true, got["enabled"])
	require.NotContains(t, got, "disabled_reason")
	require.NotContains(t, got, "secret")
}

func TestDeleteIs204ThenUnknownIdsAre404(t *testing.T) {
	t.Parallel()
	api, _, _ := newAPI(t)
	id := create(t, api)["id"].(string)

	require.Equal(t, http.StatusNoContent, api.Delete("/api/v1/webhooks/"+id).Code)

	for _, path := range []string{"/api/v1/webhooks/" + id, "/api/v1/webhooks/not-a-uuid", "/api/v1/webhooks/" + id + "/attempts"} {
		resp := api.Get(path)
		require.Equal(t, http.StatusNotFound, resp.Code, path)
		require.Contains(t, resp.Header().Get("Content-Type"), "problem+json")
	}
	require.Equal(t, http.StatusNotFound, api.Delete("/api/v1/webhooks/"+id).Code)
	require.Equal(t, http.StatusNotFound, api.Post("/api/v1/webhooks/"+id+"/rotate").Code)
	require.Equal(t, http.StatusNotFound, api.Post("/api/v1/webhooks/"+id+"/enable").Code)
	require.Empty(t, decode(t, api.Get("/api/v1/webhooks").Body)["items"])
}

func TestBadInputIs422NamingTheField(t *testing.T) {
	t.Parallel()
	api, _, _ := newAPI(t)
	ok := func() map[string]any {
		return map[string]any{"url": "https://crm.example.com/hooks", "events": []string{"delivery.sent"}}
	}
	with := func(key string, v any) map[string]any {
		b := ok()
		if v == nil {
			delete(b, key)
		} else {
			b[key] = v
		}
		return b
	}
	tests := []struct {
		name     string
		body     map[string]any
		location string
		says     string
	}{
		// The server names a missing field in its location (httpapi);
		// Huma alone says it in the message.
		{"no url", with("url", nil), "body", "property url"},
		{"empty url", with("url", ""), "body.url", ""},
		{"not a URL", with("url", "crm.example.com/hooks"), "body.url", "http"},
		{"another scheme", with("url", "ftp://crm.example.com/hooks"), "body.url", "http"},
		{"a user and password", with("url", "https://user:pw@crm.example.com/hooks"), "body.url", "user name or password"},
		{"a fragment", with("url", "https://crm.example.com/hooks#x"), "body.url", "fragment"},
		{"loopback", with("url", "http://127.0.0.1:8080/hooks"), "body.url", "loopback"},
		{"mapped loopback", with("url", "http://[::ffff:127.0.0.1]/hooks"), "body.url", "loopback"},
		{"metadata service", with("url", "http://169.254.169.254/latest/meta-data"), "body.url", "link-local"},
		{"private", with("url", "https://10.1.2.3/hooks"), "body.url", "private"},
		{"localhost", with("url", "http://localhost:8080/hooks"), "body.url", "this machine"},
		{"a bad port", with("url", "https://crm.example.com:99999/hooks"), "body.url", ""},
		{"no events", with("events", []string{}), "body.events", ""},
		{"events left out", with("events", nil), "body", "property events"},
		{"an unknown event", with("events", []string{"delivery.sent", "delivery.opened"}), "body.events[1]", ""},
		{"a long description", with("description", strings.Repeat("x", 501)), "body.description", ""},
		{"an unknown field", with("secret", "whsec_mine"), "body.secret", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := api.Post("/api/v1/webhooks", tc.body)
			require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
			require.Contains(t, resp.Body.String(), `"location":"`+tc.location+`"`)
			require.Contains(t, resp.Body.String(), tc.says)
		})
	}
	require.Empty(t, decode(t, api.Get("/api/v1/webhooks").Body)["items"], "nothing was registered")
}

func TestWithAllowedHostsOnlyThoseMayBeRegistered(t *testing.T) {
	t.Parallel()
	api, _, _ := newAPI(t, "127.0.0.1", "*.corp.example")

	require.Equal(t, http.StatusCreated, api.Post("/api/v1/webhooks", map[string]any{
		"url": "http://127.0.0.1:8080/hooks", "events": []string{"delivery.sent"}}).Code)
	require.Equal(t, http.StatusCreated, api.Post("/api/v1/webhooks", map[string]any{
		"url": "https://crm.corp.example/hooks", "events": []string{"delivery.sent"}}).Code)
	resp := api.Post("/api/v1/webhooks", map[string]any{"url": "https://crm.example.com/hooks", "events": []string{"delivery.sent"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code)
	require.Contains(t, resp.Body.String(), "not on webhooks.allowed_hosts")
}

func TestAttemptsArePagedAndABadCursorIs422(t *testing.T) {
	t.Parallel()
	api, store, clk := newAPI(t)
	id := create(t, api)["id"].(string)
	es, err := store.ListEndpoints(t.Context())
	require.NoError(t, err)
	e := es[0]
	msg := domain.Message{ID: [16]byte{1}, EndpointID: e.ID, EventKey: "delivery.sent:p:u:email", EventType: "delivery.sent",
		Payload: []byte(`{}`), CreatedAt: at, NextAttemptAt: at, ExpiresAt: at.Add(time.Hour)}
	_, err = store.Enqueue(t.Context(), []domain.Message{msg})
	require.NoError(t, err)
	for i := range 3 {
		m, err := store.Claim(t.Context(), e.ID, clk.Now(), clk.Now(), 1)
		require.NoError(t, err)
		next := clk.Now().Add(time.Second)
		_, err = store.Record(t.Context(), m[0], domain.Attempt{EndpointID: e.ID, MessageID: msg.ID, EventType: msg.EventType,
			Attempt: i + 1, At: clk.Now(), StatusCode: 503, Duration: 12500 * time.Microsecond, Result: domain.ResultFailure,
			NextAttemptAt: &next}, domain.Outcome{Verdict: domain.Retry, NextAttemptAt: next})
		require.NoError(t, err)
		clk.Advance(time.Second)
	}

	first := decode(t, api.Get("/api/v1/webhooks/"+id+"/attempts?limit=2").Body)
	items := first["items"].([]any)
	require.Len(t, items, 2)
	latest := items[0].(map[string]any)
	require.Equal(t, 3.0, latest["attempt"])
	require.Equal(t, "msg_01000000000000000000000000000000", latest["webhook_id"])
	require.Equal(t, "delivery.sent", latest["event_type"])
	require.Equal(t, "failure", latest["result"])
	require.Equal(t, 503.0, latest["status_code"])
	require.Equal(t, 13.0, latest["duration_ms"], "12.5 ms, rounded")
	require.Equal(t, "2026-03-01T12:00:03Z", latest["next_attempt_at"])
	second := decode(t, api.Get("/api/v1/webhooks/"+id+"/attempts?limit=2&cursor="+first["next_cursor"].(string)).Body)
	require.Len(t, second["items"], 1)
	require.NotContains(t, second, "next_cursor")

	resp := api.Get("/api/v1/webhooks/" + id + "/attempts?cursor=bogus")
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code)
	require.Contains(t, resp.Body.String(), `"location":"query.cursor"`)
	require.Equal(t, http.StatusUnprocessableEntity, api.Get("/api/v1/webhooks/"+id+"/attempts?limit=101").Code)
}
