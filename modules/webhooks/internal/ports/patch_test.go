package ports_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPatchChangesTheURLEventsAndDescriptionInPlace(t *testing.T) {
	t.Parallel()
	api, _, clk := newAPI(t)
	created := create(t, api)
	id := created["id"].(string)
	clk.Advance(time.Minute)

	resp := api.Patch("/api/v1/webhooks/"+id, "Content-Type: application/merge-patch+json", strings.NewReader(
		`{"url": "https://crm.example.com/hooks/v2", "events": ["delivery.failed"], "description": "CRM, v2"}`))

	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	got := decode(t, resp.Body)
	require.Equal(t, id, got["id"])
	require.Equal(t, "https://crm.example.com/hooks/v2", got["url"])
	require.Equal(t, []any{"delivery.failed"}, got["events"])
	require.Equal(t, "CRM, v2", got["description"])
	require.Equal(t, true, got["enabled"])
	require.Equal(t, "2026-03-01T12:01:00Z", got["updated_at"])
	require.Equal(t, created["created_at"], got["created_at"])
	require.NotContains(t, got, "secret", "never the secret")
	require.NotContains(t, resp.Body.String(), created["secret"].(string))
	require.Equal(t, got, decode(t, api.Get("/api/v1/webhooks/"+id).Body), "GET shows what PATCH answered")

	resp = api.Patch("/api/v1/webhooks/"+id, "Content-Type: application/json", strings.NewReader(`{"description": null}`))
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	got = decode(t, resp.Body)
	require.NotContains(t, got, "description", "null removes it")
	require.Equal(t, "https://crm.example.com/hooks/v2", got["url"], "the rest stays")
}

func TestAnEmptyPatchAnswersTheEndpointUnchanged(t *testing.T) {
	t.Parallel()
	api, _, clk := newAPI(t)
	created := create(t, api)
	id := created["id"].(string)
	clk.Advance(time.Hour)

	resp := api.Patch("/api/v1/webhooks/"+id, map[string]any{})

	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	got := decode(t, resp.Body)
	delete(created, "secret")
	delete(created, "$schema")
	delete(got, "$schema")
	require.Equal(t, created, got)
}

func TestBadPatchesAreRefusedWithTheirStatusAndChangeNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, contentType, body string
		status                  int
		location, says          string
	}{
		{"malformed JSON", "application/merge-patch+json", `{"url": "https://crm.exa`, http.StatusBadRequest, "", "JSON object"},
		{"not an object", "application/merge-patch+json", `[{"op": "replace", "path": "/url", "value": "https://x.example.com/"}]`, http.StatusBadRequest, "", ""},
		{"null", "application/merge-patch+json", `null`, http.StatusBadRequest, "", ""},
		{"empty body", "application/merge-patch+json", ``, http.StatusBadRequest, "", ""},
		{"a form", "application/x-www-form-urlencoded", `url=https://x.example.com/`, http.StatusUnsupportedMediaType, "", ""},
		{"too large", "application/merge-patch+json", `{"description": "` + strings.Repeat("x", 17<<10) + `"}`, http.StatusRequestEntityTooLarge, "", ""},
		{"an unknown field", "application/merge-patch+json", `{"colour": "red"}`, http.StatusUnprocessableEntity, "body.colour", "unknown field"},
		{"disabling", "application/merge-patch+json", `{"enabled": false}`, http.StatusUnprocessableEntity, "body.enabled", "disabled by its failures only"},
		{"another endpoint's id", "application/merge-patch+json", `{"id": "0e8c1d55-7d3c-4a43-9a4e-3f7c8f9b2a10"}`, http.StatusUnprocessableEntity, "body.id", "not the id"},
		{"the secret", "application/merge-patch+json", `{"secret": "whsec_mine"}`, http.StatusUnprocessableEntity, "body.secret", "/rotate"},
		{"url removed", "application/merge-patch+json", `{"url": null}`, http.StatusUnprocessableEntity, "body.url", "cannot be removed"},
		{"url empty", "application/merge-patch+json", `{"url": ""}`, http.StatusUnprocessableEntity, "body.url", "required"},
		{"url not a string", "application/merge-patch+json", `{"url": 42}`, http.StatusUnprocessableEntity, "body.url", "string"},
		{"url not absolute", "application/merge-patch+json", `{"url": "crm.example.com/hooks"}`, http.StatusUnprocessableEntity, "body.url", "http"},
		{"url of another scheme", "application/merge-patch+json", `{"url": "ftp://crm.example.com/hooks"}`, http.StatusUnprocessableEntity, "body.url", "http"},
		{"url with a user and password", "application/merge-patch+json", `{"url": "https://user:pw@crm.example.com/hooks"}`, http.StatusUnprocessableEntity, "body.url", "user name or password"},
		{"url with a fragment", "application/merge-patch+json", `{"url": "https://crm.example.com/hooks#x"}`, http.StatusUnprocessableEntity, "body.url", "fragment"},
		{"url on loopback", "application/merge-patch+json", `{"url": "http://127.0.0.1:8080/hooks"}`, http.StatusUnprocessableEntity, "body.url", "loopback"},
		{"url of the metadata service", "application/merge-patch+json", `{"url": "http://169.254.169.254/latest/meta-data"}`, http.StatusUnprocessableEntity, "body.url", "link-local"},
		{"url on a private network", "application/merge-patch+json", `{"url": "https://10.1.2.3/hooks"}`, http.StatusUnprocessableEntity, "body.url", "private"},
		{"url on localhost", "application/merge-patch+json", `{"url": "http://localhost:8080/hooks"}`, http.StatusUnprocessableEntity, "body.url", "this machine"},
		{"url with a bad port", "application/merge-patch+json", `{"url": "https://crm.example.com:99999/hooks"}`, http.StatusUnprocessableEntity, "body.url", ""},
		{"events removed", "application/merge-patch+json", `{"events": null}`, http.StatusUnprocessableEntity, "body.events", "cannot be removed"},
		{"no events", "application/merge-patch+json", `{"events": []}`, http.StatusUnprocessableEntity, "body.events", "at least one"},
		{"events not a list", "application/merge-patch+json", `{"events": "delivery.sent"}`, http.StatusUnprocessableEntity, "body.events", "array"},
		{"an unknown event", "application/merge-patch+json", `{"events": ["delivery.sent", "delivery.opened"]}`, http.StatusUnprocessableEntity, "body.events[1]", "delivery.opened"},
		{"a long description", "application/json", `{"description": "` + strings.Repeat("x", 501) + `"}`, http.StatusUnprocessableEntity, "body.description", "500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, _, clk := newAPI(t)
			created := create(t, api)
			delete(created, "secret")
			delete(created, "$schema")
			id := created["id"].(string)
			clk.Advance(time.Minute)

			resp := api.Patch("/api/v1/webhooks/"+id, "Content-Type: "+tc.contentType, strings.NewReader(tc.body))

			assert.Equal(t, tc.status, resp.Code, resp.Body.String())
			assert.Contains(t, resp.Header().Get("Content-Type"), "application/problem+json")
			if tc.location != "" {
				assert.Contains(t, resp.Body.String(), `"location":"`+tc.location+`"`)
			}
			assert.Contains(t, resp.Body.String(), tc.says)
			after := decode(t, api.Get("/api/v1/webhooks/"+id).Body)
			delete(after, "$schema")
			assert.Equal(t, created, after, "nothing changed")
		})
	}
}

func TestPatchWithAllowedHostsTakesOnlyThose(t *testing.T) {
	t.Parallel()
	api, _, _ := newAPI(t, "127.0.0.1", "*.corp.example")
	resp := api.Post("/api/v1/webhooks", map[string]any{"url": "http://127.0.0.1:8080/hooks", "events": []string{"delivery.sent"}})
	require.Equal(t, http.StatusCreated, resp.Code)
	id := decode(t, resp.Body)["id"].(string)

	require.Equal(t, http.StatusOK, api.Patch("/api/v1/webhooks/"+id, map[string]any{"url": "https://crm.corp.example/hooks"}).Code)
	resp = api.Patch("/api/v1/webhooks/"+id, map[string]any{"url": "https://crm.example.com/hooks"})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code)
	require.Contains(t, resp.Body.String(), "not on webhooks.allowed_hosts")
}

func TestPatchingAnUnknownEndpointIs404(t *testing.T) {
	t.Parallel()
	api, _, _ := newAPI(t)
	for _, id := range []string{"0e8c1d55-7d3c-4a43-9a4e-3f7c8f9b2a10", "not-a-uuid"} {
		resp := api.Patch("/api/v1/webhooks/"+id, map[string]any{"description": "x"})
		require.Equal(t, http.StatusNotFound, resp.Code, id)
		require.Contains(t, resp.Header().Get("Content-Type"), "problem+json")
	}
}

func TestPatchDocumentsItsMediaTypesAndAnExample(t *testing.T) {
	t.Parallel()
	api, _, _ := newAPI(t)
	op := api.OpenAPI().Paths["/api/v1/webhooks/{id}"].Patch
	require.NotNil(t, op)
	require.Equal(t, "patch-webhook", op.OperationID)
	require.Contains(t, op.RequestBody.Content, "application/merge-patch+json")
	require.Contains(t, op.RequestBody.Content, "application/json")
	require.NotContains(t, op.RequestBody.Content, "application/octet-stream")
	require.NotNil(t, op.RequestBody.Content["application/merge-patch+json"].Example)
	require.Contains(t, op.Description, "RFC 7396")
	require.NotEmpty(t, op.Security, "admin only")
}

func TestWhatGetAnswersPatchAcceptsBack(t *testing.T) {
	t.Parallel()
	api, _, clk := newAPI(t)
	id := create(t, api)["id"].(string)
	clk.Advance(time.Minute)
	read := api.Get("/api/v1/webhooks/" + id).Body.String()

	resp := api.Patch("/api/v1/webhooks/"+id, "Content-Type: application/merge-patch+json", strings.NewReader(read))

	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	require.JSONEq(t, read, resp.Body.String(), "unchanged, updated_at included")
}
