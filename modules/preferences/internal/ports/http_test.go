package ports_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/preferences/internal/adapters/memory"
	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/modules/preferences/internal/ports"
	"github.com/notifier/notifier/platform/clock"
)

var now = time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)

// newAPI serves the port on a test API configured like the real server
// (unknown properties rejected, no $schema in bodies); auth is the server's
// business and is not part of it.
func newAPI(t *testing.T) (humatest.TestAPI, *clock.Fake) {
	t.Helper()
	port, clk := newPort(t)
	return register(t, port), clk
}

// newPort returns the port on memory storage and the test's defaults, with
// the clock its updates are stamped by.
func newPort(t *testing.T) (*ports.HTTP, *clock.Fake) {
	t.Helper()
	policy, err := domain.NewPolicy(domain.Defaults{
		Channels:           map[string]bool{"email": true, "sms": true},
		Types:              map[string]bool{"welcome": true, "new_movies": true, "new_episode": true, "reactions": true},
		DefaultTypeEnabled: true,
		Mandatory:          []string{"email_confirmation", "phone_confirmation"},
	})
	require.NoError(t, err)
	store := memory.NewStore()
	clk := clock.NewFake(now)
	get, err := app.NewGetPreferencesHandler(store, policy)
	require.NoError(t, err)
	update, err := app.NewUpdatePreferencesHandler(store, policy, clk)
	require.NoError(t, err)
	patch, err := app.NewPatchPreferencesHandler(store, policy, clk)
	require.NoError(t, err)
	port, err := ports.NewHTTP(get, update, patch)
	require.NoError(t, err)
	return port, clk
}

func register(t *testing.T, port *ports.HTTP) humatest.TestAPI {
	t.Helper()
	cfg := huma.DefaultConfig("Notifier API", "test")
	cfg.CreateHooks = nil
	cfg.AllowAdditionalPropertiesByDefault = false
	_, api := humatest.New(t, cfg)
	port.RegisterRoutes(api)
	return api
}

// resource decodes a preferences response into a generic map, so that the
// wire shape itself is checked.
func resource(t *testing.T, resp *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	var out map[string]any
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &out))
	return out
}

// problemLocations returns the status and the locations of a problem's
// errors.
func problemLocations(t *testing.T, resp *httptest.ResponseRecorder) (int, []string) {
	t.Helper()
	var p huma.ErrorModel
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &p), resp.Body.String())
	var locs []string
	for _, d := range p.Errors {
		locs = append(locs, d.Location)
	}
	return resp.Code, locs
}

const path = "/api/v1/users/3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11/preferences"

func TestGetShowsTheDefaultsOfAUserWhoNeverChose(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)

	got := resource(t, api.Get(path))

	assert.Equal(t, map[string]any{
		"user_id":  "3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11",
		"channels": map[string]any{"email": true, "sms": true, "inapp": true, "webhook": true},
		"types": map[string]any{
			"welcome": true, "new_movies": true, "new_episode": true, "reactions": true,
			"email_confirmation": true, "phone_confirmation": true,
		},
		"per_type":    map[string]any{},
		"quiet_hours": nil,
		"mandatory":   []any{"email_confirmation", "phone_confirmation"},
	}, got, "no updated_at before the first PUT; no quiet hours configured")
}

func TestPutStoresChoicesThatGetThenShows(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)

	put := resource(t, api.Put(path, map[string]any{
		"channels": map[string]any{"sms": false},
		"types":    map[string]any{"new_movies": false, "managers_digest": false},
	}))
	got := resource(t, api.Get(path))

	assert.Equal(t, put, got)
	assert.Equal(t, map[string]any{"email": true, "sms": false, "inapp": true, "webhook": true}, got["channels"])
	types := got["types"].(map[string]any)
	assert.Equal(t, false, types["new_movies"])
	assert.Equal(t, false, types["managers_digest"], "a type the user chose is listed")
	assert.Equal(t, true, types["reactions"])
	assert.Equal(t, now.Format(time.RFC3339), got["updated_at"])
}

func TestPutReplacesSoALeftOutTypeReturnsToItsDefault(t *testing.T) {
	t.Parallel()
	api, clk := newAPI(t)
	resource(t, api.Put(path, map[string]any{
		"channels": map[string]any{"email": false},
		"types":    map[string]any{"new_movies": false, "reactions": false},
	}))
	clk.Advance(time.Hour)

	got := resource(t, api.Put(path, map[string]any{"types": map[string]any{"reactions": false}}))

	assert.Equal(t, map[string]any{"email": true, "sms": true, "inapp": true, "webhook": true}, got["channels"], "email left out: back to on")
	types := got["types"].(map[string]any)
	assert.Equal(t, true, types["new_movies"], "new_movies left out: back to on")
	assert.Equal(t, false, types["reactions"])
	assert.Equal(t, now.Add(time.Hour).Format(time.RFC3339), got["updated_at"])

	reset := resource(t, api.Put(path, map[string]any{}))
	assert.Equal(t, true, reset["types"].(map[string]any)["reactions"], "an empty body resets everything")
}

func TestOptingOutOfAMandatoryTypeIsAcceptedButHasNoEffect(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)

	got := resource(t, api.Put(path, map[string]any{
		"channels": map[string]any{"email": false},
		"types":    map[string]any{"email_confirmation": false},
	}))

	assert.Equal(t, true, got["types"].(map[string]any)["email_confirmation"])
	assert.Contains(t, got["mandatory"], "email_confirmation")
}

func TestPutNamesTheFieldOfBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		body      any
		status    int
		locations []string
	}{
		{"unknown channel", map[string]any{"channels": map[string]any{"email": true, "fax": true}}, http.StatusUnprocessableEntity, []string{"body.channels.fax"}},
		{"malformed type name", map[string]any{"types": map[string]any{"New-Movies": false}}, http.StatusUnprocessableEntity, []string{"body.types.New-Movies"}},
		{"type name too long", map[string]any{"types": map[string]any{strings.Repeat("a", 65): false}}, http.StatusUnprocessableEntity, []string{"body.types." + strings.Repeat("a", 65)}},
		{"several at once", map[string]any{"channels": map[string]any{"fax": true}, "types": map[string]any{"9lives": true}}, http.StatusUnprocessableEntity, []string{"body.channels.fax", "body.types.9lives"}},
		{"unknown field", map[string]any{"types": map[string]any{}, "colour": "red"}, http.StatusUnprocessableEntity, []string{"body.colour"}},
		{"not a boolean", map[string]any{"types": map[string]any{"new_movies": "no"}}, http.StatusUnprocessableEntity, []string{"body.types.new_movies"}},
		{"unknown channel in per_type", map[string]any{"per_type": map[string]any{"new_movies": map[string]any{"fax": false}}}, http.StatusUnprocessableEntity, []string{"body.per_type.new_movies.fax"}},
		{"malformed type in per_type", map[string]any{"per_type": map[string]any{"New": map[string]any{"sms": false}}}, http.StatusUnprocessableEntity, []string{"body.per_type.New"}},
		{"malformed JSON", strings.NewReader(`{"types": {"new_movies": fal`), http.StatusBadRequest, []string{"body"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, _ := newAPI(t)

			resp := api.Put(path, "Content-Type: application/json", tc.body)

			status, locs := problemLocations(t, resp)
			assert.Equal(t, tc.status, status, resp.Body.String())
			assert.ElementsMatch(t, tc.locations, locs, resp.Body.String())
			assert.Equal(t, true, resource(t, api.Get(path))["channels"].(map[string]any)["email"], "nothing was stored")
			_, stored := resource(t, api.Get(path))["updated_at"]
			assert.False(t, stored, "nothing was stored")
		})
	}
}

func TestMalformedUserIDIsRefusedNamingThePathParameter(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)
	for _, id := range []string{"a%20b", "%C3%BC", strings.Repeat("a", 129)} {
		for _, resp := range []*httptest.ResponseRecorder{
			api.Get("/api/v1/users/" + id + "/preferences"),
			api.Put("/api/v1/users/"+id+"/preferences", map[string]any{}),
		} {
			status, locs := problemLocations(t, resp)
			assert.Equal(t, http.StatusUnprocessableEntity, status, id)
			assert.Contains(t, locs, "path.user_id", id)
		}
	}
}

func TestPutWithoutBodyIsABadRequest(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)

	resp := api.Put(path)

	assert.Equal(t, http.StatusBadRequest, resp.Code, resp.Body.String())
}

func TestStoreFailureIsAServerErrorNotBadInput(t *testing.T) {
	t.Parallel()
	port, err := ports.NewHTTP(failingGet{}, failingUpdate{}, failingPatch{})
	require.NoError(t, err)
	api := register(t, port)

	assert.Equal(t, http.StatusInternalServerError, api.Get(path).Code)
	assert.Equal(t, http.StatusInternalServerError, api.Put(path, map[string]any{}).Code)
	resp := api.Patch(path, map[string]any{})
	assert.Equal(t, http.StatusInternalServerError, resp.Code)
}

type failingPatch struct{}

func (failingPatch) Handle(context.Context, app.PatchPreferences) (domain.View, error) {
	return domain.View{}, errDown
}

var errDown = errors.New("store down")

type failingGet struct{}

func (failingGet) Handle(context.Context, app.GetPreferences) (domain.View, error) {
	return domain.View{}, errDown
}

type failingUpdate struct{}

func (failingUpdate) Handle(context.Context, app.UpdatePreferences) (domain.View, error) {
	return domain.View{}, errDown
}

func TestOperationsNeedAManagerAndDocumentMandatoryTypes(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)

	item := api.OpenAPI().Paths["/api/v1/users/{user_id}/preferences"]
	require.NotNil(t, item)
	for _, op := range []*huma.Operation{item.Get, item.Put, item.Patch} {
		require.NotNil(t, op)
		assert.NotEmpty(t, op.Security, "%s is secured", op.OperationID)
		assert.Contains(t, op.Errors, http.StatusForbidden, "%s refuses lesser roles", op.OperationID)
	}
	assert.Contains(t, item.Put.Description, "mandatory type")
	assert.Contains(t, item.Put.Description, "no effect")
}

func TestNewHTTPRejectsNilUseCases(t *testing.T) {
	t.Parallel()
	_, err := ports.NewHTTP(nil, nil, nil)
	assert.Error(t, err)
}

func TestWhatGetAnswersPutAcceptsBack(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)
	resource(t, api.Put(path, map[string]any{"types": map[string]any{"reactions": false}}))
	read := resource(t, api.Get(path))
	require.Contains(t, read, "user_id")
	require.Contains(t, read, "mandatory")
	require.Contains(t, read, "updated_at")

	read["channels"].(map[string]any)["sms"] = false
	written := resource(t, api.Put(path, read))

	assert.Equal(t, false, written["channels"].(map[string]any)["sms"], "the changed switch")
	assert.Equal(t, false, written["types"].(map[string]any)["reactions"], "the switch read back")
	assert.Equal(t, resource(t, api.Get(path)), written)
}

func TestPutWithAnotherUsersIDIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)

	resp := api.Put(path, map[string]any{"user_id": "someone-else", "channels": map[string]any{"sms": false}})

	status, locs := problemLocations(t, resp)
	assert.Equal(t, http.StatusUnprocessableEntity, status, resp.Body.String())
	assert.Equal(t, []string{"body.user_id"}, locs)
	assert.Contains(t, resp.Body.String(), "does not match the user of the path")
	_, stored := resource(t, api.Get(path))["updated_at"]
	assert.False(t, stored, "nothing was stored")
}

func TestPutIgnoresTheReadOnlyFields(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)

	got := resource(t, api.Put(path, map[string]any{
		"mandatory":  []any{"new_movies"},
		"updated_at": "2001-01-01T00:00:00Z",
		"types":      map[string]any{"new_movies": false},
	}))

	assert.Equal(t, []any{"email_confirmation", "phone_confirmation"}, got["mandatory"], "mandatory is the configuration's")
	assert.Equal(t, false, got["types"].(map[string]any)["new_movies"], "new_movies did not become mandatory")
	assert.Equal(t, now.Format(time.RFC3339), got["updated_at"], "updated_at is the server's")
}

func TestPatchChangesOneSwitchWithoutSendingTheRest(t *testing.T) {
	t.Parallel()
	api, clk := newAPI(t)
	resource(t, api.Put(path, map[string]any{"channels": map[string]any{"email": false}, "types": map[string]any{"reactions": false}}))
	clk.Advance(time.Minute)

	got := resource(t, api.Patch(path, "Content-Type: application/merge-patch+json",
		strings.NewReader(`{"per_type": {"new_movies": {"sms": false}}}`)))

	assert.Equal(t, map[string]any{"new_movies": map[string]any{"sms": false}}, got["per_type"])
	assert.Equal(t, false, got["channels"].(map[string]any)["email"], "kept")
	assert.Equal(t, false, got["types"].(map[string]any)["reactions"], "kept")
	assert.Equal(t, now.Add(time.Minute).Format(time.RFC3339), got["updated_at"])
	assert.Equal(t, got, resource(t, api.Get(path)))

	got = resource(t, api.Patch(path, "Content-Type: application/json",
		strings.NewReader(`{"channels": {"email": null}, "per_type": {"new_movies": null}}`)))
	assert.Equal(t, true, got["channels"].(map[string]any)["email"], "null: back to the default")
	assert.Equal(t, map[string]any{}, got["per_type"])
}

func TestWhatGetAnswersPatchAcceptsBack(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)
	resource(t, api.Patch(path, map[string]any{"per_type": map[string]any{"new_movies": map[string]any{"email": true}}}))
	read := resource(t, api.Get(path))

	written := resource(t, api.Patch(path, read))

	assert.Equal(t, read, written)
}

func TestBadPatchesAreRefusedWithTheirStatusAndChangeNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, contentType, body string
		status                  int
		locations               []string
	}{
		{"malformed JSON", "application/merge-patch+json", `{"types": {"new_movies": fal`, http.StatusBadRequest, nil},
		{"not an object", "application/merge-patch+json", `[{"op": "replace", "path": "/types/new_movies", "value": false}]`, http.StatusBadRequest, nil},
		{"empty body", "application/merge-patch+json", ``, http.StatusBadRequest, nil},
		{"a form", "application/x-www-form-urlencoded", `types=new_movies`, http.StatusUnsupportedMediaType, nil},
		{"unknown channel", "application/merge-patch+json", `{"per_type": {"new_movies": {"fax": false}}}`, http.StatusUnprocessableEntity, []string{"body.per_type.new_movies.fax"}},
		{"malformed type", "application/merge-patch+json", `{"types": {"New": false}}`, http.StatusUnprocessableEntity, []string{"body.types.New"}},
		{"not a boolean", "application/merge-patch+json", `{"channels": {"sms": 0}}`, http.StatusUnprocessableEntity, []string{"body.channels.sms"}},
		{"unknown member", "application/merge-patch+json", `{"colour": "red"}`, http.StatusUnprocessableEntity, []string{"body.colour"}},
		{"another user", "application/merge-patch+json", `{"user_id": "bob", "types": {"new_movies": false}}`, http.StatusUnprocessableEntity, []string{"body.user_id"}},
		{"too large", "application/merge-patch+json", `{"types": {"a": true` + strings.Repeat(`, "a": true`, 7000) + `}}`, http.StatusRequestEntityTooLarge, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, _ := newAPI(t)

			resp := api.Patch(path, "Content-Type: "+tc.contentType, strings.NewReader(tc.body))

			assert.Equal(t, tc.status, resp.Code, resp.Body.String())
			assert.Contains(t, resp.Header().Get("Content-Type"), "application/problem+json")
			if tc.locations != nil {
				_, locs := problemLocations(t, resp)
				assert.ElementsMatch(t, tc.locations, locs, resp.Body.String())
			}
			_, stored := resource(t, api.Get(path))["updated_at"]
			assert.False(t, stored, "nothing was stored")
		})
	}
}

func TestPatchDocumentsItsMediaTypeAndAnExample(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)
	op := api.OpenAPI().Paths["/api/v1/users/{user_id}/preferences"].Patch
	require.NotNil(t, op)
	require.NotNil(t, op.RequestBody)
	require.Contains(t, op.RequestBody.Content, "application/merge-patch+json")
	assert.NotNil(t, op.RequestBody.Content["application/merge-patch+json"].Example)
	assert.NotContains(t, op.RequestBody.Content, "application/octet-stream")
	assert.Contains(t, op.Description, "RFC 7396")
}

func TestQuietHoursAreSetPatchedAndReturnedToTheConfiguredOnes(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)

	got := resource(t, api.Put(path, map[string]any{"quiet_hours": map[string]any{"start": "23:00", "end": "07:30"}}))
	assert.Equal(t, map[string]any{"start": "23:00", "end": "07:30"}, got["quiet_hours"])

	got = resource(t, api.Patch(path, "Content-Type: application/merge-patch+json", strings.NewReader(`{"quiet_hours": {"start": "21:00"}}`)))
	assert.Equal(t, map[string]any{"start": "21:00", "end": "07:30"}, got["quiet_hours"], "the end is kept")

	got = resource(t, api.Patch(path, "Content-Type: application/merge-patch+json", strings.NewReader(`{"quiet_hours": null}`)))
	assert.Nil(t, got["quiet_hours"], "back to the configured ones: none here")
	assert.Equal(t, got, resource(t, api.Get(path)))
}

func TestMalformedQuietHoursAreRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	api, _ := newAPI(t)
	for _, tc := range []struct {
		name, body string
		put        bool
		location   string
	}{
		{"a malformed start", `{"quiet_hours": {"start": "10pm", "end": "08:00"}}`, true, "body.quiet_hours.start"},
		{"an end out of range", `{"quiet_hours": {"start": "22:00", "end": "24:00"}}`, true, "body.quiet_hours.end"},
		{"a missing end", `{"quiet_hours": {"start": "22:00"}}`, true, "body.quiet_hours.end"},
		{"a patch of a number", `{"quiet_hours": {"start": 22}}`, false, "body.quiet_hours.start"},
		{"a patch of a string", `{"quiet_hours": "22:00-08:00"}`, false, "body.quiet_hours"},
		{"a patch of another member", `{"quiet_hours": {"start": "22:00", "end": "08:00", "zone": "UTC"}}`, false, "body.quiet_hours.zone"},
	} {
		var resp *httptest.ResponseRecorder
		if tc.put {
			resp = api.Put(path, "Content-Type: application/json", strings.NewReader(tc.body))
		} else {
			resp = api.Patch(path, "Content-Type: application/merge-patch+json", strings.NewReader(tc.body))
		}
		status, locs := problemLocations(t, resp)
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%s: %s", tc.name, resp.Body.String())
		assert.Contains(t, locs, tc.location, tc.name)
	}
	_, stored := resource(t, api.Get(path))["updated_at"]
	assert.False(t, stored, "nothing was stored")
}
