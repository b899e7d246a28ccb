package ports_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type recordingBus struct {
	mu       sync.Mutex
	messages []any
}

func (b *recordingBus) Send(_ context.Context, v any) error {
	return b.Publish(context.Background(), v)
}
func (b *recordingBus) Publish(_ context.Context, v any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.messages = append(b.messages, v)
	return nil
}
func (b *recordingBus) all() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]any(nil), b.messages...)
}

type fixture struct {
	api   humatest.TestAPI
	bus   *recordingBus
	clock *clock.Fake
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fixture{bus: &recordingBus{}, clock: clock.NewFake(start)}
	store := memory.New()
	client, err := upstream.New(upstream.Config{Attempts: 1}, logger,
		upstream.WithHandler("auth", demodirectory.NewAuth(&demodirectory.Data{Users: demodirectory.GenerateUsers(3)})))
	require.NoError(t, err)
	renderer, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	create, err := app.NewCreatePostingHandler(store, db.NoTx{}, f.bus, f.bus, renderer, client, f.clock, logger)
	require.NoError(t, err)
	get, err := app.NewGetPostingHandler(store)
	require.NoError(t, err)
	list, err := app.NewListPostingsHandler(store)
	require.NoError(t, err)
	cancel, err := app.NewCancelPostingHandler(store, db.NoTx{}, f.bus, f.clock, logger)
	require.NoError(t, err)
	h, err := ports.NewHTTP(create, get, list, cancel, f.clock, logger)
	require.NoError(t, err)
	_, f.api = humatest.New(t)
	h.RegisterRoutes(f.api)
	return f
}

// seedNewMovies is the seed's new-movies posting, verbatim.
const seedNewMovies = `{
  "from_event": "event_id",
  "receivers": "http://auth/api/v1/users/?is_active=True&email_notifications=True&page_number=1&page_size=500",
  "template": "email/new_movies.md",
  "delivery_type": ["email"],
  "template_context": {
    "movies": "http://fastapi/api/v1/movies/?new=True"
  }
}`

// seedPhoneCode is the seed's SMS code posting, verbatim but for the uuid.
var seedPhoneCode = `{
  "from_event": "event_id",
  "receivers": "http://auth/api/v1/users/?id=` + demodirectory.GenerateUsers(1)[0].ID + `",
  "template": "sms/phone_confirmation.md",
  "delivery_type": ["sms"],
  "expires_in": "120 sec",
  "template_context": {
    "secret_code": "1234"
  }
}`

func body(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	return m
}

func decode(t *testing.T, resp interface{ Result() *http.Response }, v any) {
	t.Helper()
	require.NoError(t, json.NewDecoder(resp.Result().Body).Decode(v))
}

func TestSeedPostingIsCreatedWith201ThenReturnedWith200(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	first := f.api.Post("/api/v1/postings", "Idempotency-Key: mailing-42", body(t, seedNewMovies))
	require.Equal(t, http.StatusCreated, first.Code, first.Body.String())
	var created map[string]any
	decode(t, first, &created)
	again := f.api.Post("/api/v1/postings", "Idempotency-Key: mailing-42", body(t, seedNewMovies))
	require.Equal(t, http.StatusOK, again.Code, again.Body.String())
	var repeated map[string]any
	decode(t, again, &repeated)

	require.Equal(t, created["id"], repeated["id"])
	require.Equal(t, "/api/v1/postings/"+created["id"].(string), first.Header().Get("Location"))
	require.Equal(t, "accepted", created["status"])
	require.Equal(t, "new_movies", created["notification_type"])
	require.Equal(t, "bulk", created["priority"])
	require.Equal(t, "api", created["from_service"])
	require.Equal(t, []any{"email"}, created["delivery_type"])
	require.Equal(t, map[string]any{"recipients": 0.0, "skipped": 0.0, "sent": 0.0, "failed": 0.0, "expired": 0.0, "cancelled": 0.0}, created["counters"])
	for _, key := range []string{"expires_at", "send_at", "completed_at", "error", "created_at", "updated_at", "receivers", "template", "from_event"} {
		require.Contains(t, created, key)
	}
	require.NotContains(t, created, "template_context", "the context may hold secrets")
	require.Len(t, f.bus.all(), 1, "the walk started once")
}

func TestPostingWithoutKeyIsDeduplicatedByItsContentAndBodyKeyWorksToo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.api.Post("/api/v1/postings", body(t, seedNewMovies)).Code)
	require.Equal(t, http.StatusOK, f.api.Post("/api/v1/postings", body(t, seedNewMovies)).Code)

	withKey := body(t, seedNewMovies)
	withKey["idempotency_key"] = "body-key"
	require.Equal(t, http.StatusCreated, f.api.Post("/api/v1/postings", withKey).Code)
	require.Equal(t, http.StatusOK, f.api.Post("/api/v1/postings", withKey).Code)
	require.Equal(t, http.StatusOK, f.api.Post("/api/v1/postings", "Idempotency-Key: body-key", body(t, seedNewMovies)).Code,
		"the header key names the same posting")
}

func TestExpiresInBecomesExpiresAtAtAcceptance(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp := f.api.Post("/api/v1/postings", body(t, seedPhoneCode))
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	var got struct {
		ExpiresAt time.Time `json:"expires_at"`
		Priority  string    `json:"priority"`
		Type      string    `json:"notification_type"`
	}
	decode(t, resp, &got)
	require.Equal(t, start.Add(120*time.Second), got.ExpiresAt)
	require.Equal(t, "transactional", got.Priority)
	require.Equal(t, "phone_confirmation", got.Type)

	numeric := body(t, seedPhoneCode)
	numeric["expires_in"] = 90
	numeric["from_event"] = "other"
	resp = f.api.Post("/api/v1/postings", numeric)
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	decode(t, resp, &got)
	require.Equal(t, start.Add(90*time.Second), got.ExpiresAt)
}

func TestBadPostingRequestsGet4xxNamingTheField(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name   string
		change func(map[string]any)
		status int
		field  string
	}{
		{"bad expires_in", func(b map[string]any) { b["expires_in"] = "soonish" }, 422, "expires_in"},
		{"negative expires_in", func(b map[string]any) { b["expires_in"] = -5 }, 422, "expires_in"},
		{"expires_in of the wrong type", func(b map[string]any) { b["expires_in"] = true }, 422, "expires_in"},
		{"unknown template", func(b map[string]any) { b["template"] = "email/nope.md" }, 422, "template"},
		{"a locale file of the template", func(b map[string]any) { b["template"] = "sms/phone_confirmation.en.md" }, 422,
			`name \"sms/phone_confirmation.md\"`},
		{"missing receivers", func(b map[string]any) { delete(b, "receivers") }, 422, "receivers"},
		{"receivers on an unknown host", func(b map[string]any) { b["receivers"] = "http://10.0.0.1/api/v1/users/" }, 422, "receivers"},
		{"bad delivery_type", func(b map[string]any) { b["delivery_type"] = []string{"pigeon"} }, 422, "delivery_type"},
		{"empty delivery_type", func(b map[string]any) { b["delivery_type"] = []string{} }, 422, "delivery_type"},
		{"missing delivery_type", func(b map[string]any) { delete(b, "delivery_type") }, 422, "delivery_type"},
		{"unknown field", func(b map[string]any) { b["recievers"] = "typo" }, 422, "recievers"},
		{"bad priority", func(b map[string]any) { b["priority"] = "asap" }, 422, "priority"},
		{"bad send_at", func(b map[string]any) { b["send_at"] = "tomorrow" }, 422, "send_at"},
		{"template_context not an object", func(b map[string]any) { b["template_context"] = "movies" }, 422, "template_context"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := body(t, seedPhoneCode)
			tc.change(b)
			resp := f.api.Post("/api/v1/postings", b)
			require.Equal(t, tc.status, resp.Code, resp.Body.String())
			require.Contains(t, resp.Header().Get("Content-Type"), "problem+json")
			require.Contains(t, resp.Body.String(), tc.field)
		})
	}

	resp := f.api.Post("/api/v1/postings", strings.NewReader(`{"receivers": "http://auth/api/v1/users/",`))
	require.GreaterOrEqual(t, resp.Code, 400, "malformed JSON")
	require.Less(t, resp.Code, 500, "malformed JSON")
	require.Empty(t, f.bus.all(), "nothing was accepted")
}

func TestPostingIsReadBackWithItsCounters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var created map[string]any
	decode(t, f.api.Post("/api/v1/postings", body(t, seedNewMovies)), &created)

	resp := f.api.Get("/api/v1/postings/" + created["id"].(string))
	require.Equal(t, http.StatusOK, resp.Code)
	var got map[string]any
	decode(t, resp, &got)
	require.Equal(t, created, got)

	for _, id := range []string{"6f1c9a2e-0000-4000-8000-000000000000", "not-a-uuid"} {
		resp := f.api.Get("/api/v1/postings/" + id)
		require.Equal(t, http.StatusNotFound, resp.Code, id)
		require.Contains(t, resp.Header().Get("Content-Type"), "problem+json")
	}
}

func TestPostingsAreListedNewestFirstWithFiltersAndACursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []string
	for _, event := range []string{"e1", "e2", "e1", "e1"} {
		b := body(t, seedNewMovies)
		b["from_event"] = event
		b["idempotency_key"] = event + "-" + time.Duration(len(ids)).String()
		var p map[string]any
		decode(t, f.api.Post("/api/v1/postings", b), &p)
		ids = append(ids, p["id"].(string))
		f.clock.Advance(time.Second)
	}

	type page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	var first page
	resp := f.api.Get("/api/v1/postings?from_event=e1&limit=2")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	decode(t, resp, &first)
	require.Len(t, first.Items, 2)
	require.Equal(t, []string{ids[3], ids[2]}, []string{first.Items[0].ID, first.Items[1].ID})
	require.NotEmpty(t, first.NextCursor)

	var second page
	decode(t, f.api.Get("/api/v1/postings?from_event=e1&limit=2&cursor="+first.NextCursor), &second)
	require.Len(t, second.Items, 1)
	require.Equal(t, ids[0], second.Items[0].ID)
	require.Empty(t, second.NextCursor)

	var none page
	resp = f.api.Get("/api/v1/postings?status=cancelled")
	decode(t, resp, &none)
	require.Empty(t, none.Items)
	require.Contains(t, resp.Body.String(), `"items":[]`)

	for query, field := range map[string]string{
		"limit=0": "limit", "limit=201": "limit", "status=sleeping": "status", "cursor=zzz": "cursor",
	} {
		resp := f.api.Get("/api/v1/postings?" + query)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, query)
		require.Contains(t, resp.Body.String(), field, query)
	}
}

func TestManagerCancelsAPostingOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var created map[string]any
	decode(t, f.api.Post("/api/v1/postings", body(t, seedNewMovies)), &created)
	path := "/api/v1/postings/" + created["id"].(string) + "/cancel"

	resp := f.api.Post(path)
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	var got map[string]any
	decode(t, resp, &got)
	require.Equal(t, "cancelled", got["status"])
	require.Contains(t, f.bus.all(), posting.PostingCancelled{PostingID: created["id"].(string), CancelledAt: start, Priority: posting.PriorityBulk})

	require.Equal(t, http.StatusConflict, f.api.Post(path).Code)
	require.Equal(t, http.StatusNotFound, f.api.Post("/api/v1/postings/6f1c9a2e-0000-4000-8000-000000000000/cancel").Code)
}

func TestRoutesDeclareTheirRoles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	roles := map[string]any{}
	for path, item := range f.api.OpenAPI().Paths {
		for method, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post} {
			if op != nil {
				require.NotEmpty(t, op.Security, "%s %s", method, path)
				roles[op.OperationID] = op.Metadata["notifier.httpapi.role"]
			}
		}
	}
	require.Len(t, roles, 4)
	require.EqualValues(t, "manager", roles["cancel-posting"])
	require.EqualValues(t, "service", roles["create-posting"])
}

func TestPhoneCodeAskedForAgainWithANewCodeIsANewPosting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.api.Post("/api/v1/postings", body(t, seedPhoneCode))
	require.Equal(t, http.StatusCreated, first.Code, first.Body.String())
	var created map[string]any
	decode(t, first, &created)

	// The same body a minute later: its expires_in gives a later
	// expires_at, and it is still the same request.
	f.clock.Advance(time.Minute)
	repeat := f.api.Post("/api/v1/postings", strings.NewReader(strings.ReplaceAll(seedPhoneCode, "\n", " ")))
	require.Equal(t, http.StatusOK, repeat.Code, repeat.Body.String())
	var repeated map[string]any
	decode(t, repeat, &repeated)
	require.Equal(t, created["id"], repeated["id"])
	require.Equal(t, created["expires_at"], repeated["expires_at"], "the first posting, as it was")

	resent := body(t, seedPhoneCode)
	resent["template_context"] = map[string]any{"secret_code": "5678"}
	second := f.api.Post("/api/v1/postings", resent)
	require.Equal(t, http.StatusCreated, second.Code, "a new code is a new posting: %s", second.Body.String())
	var other map[string]any
	decode(t, second, &other)
	require.NotEqual(t, created["id"], other["id"])
	require.Len(t, f.bus.all(), 2, "both codes go out")
}

func TestSameKeyWithAnotherBodyIs422NamingTheKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resent := body(t, seedPhoneCode)
	resent["template_context"] = map[string]any{"secret_code": "5678"}
	withBodyKey := func(b map[string]any) map[string]any { b["idempotency_key"] = "code-anna"; return b }

	for _, tc := range []struct {
		name     string
		args     []any
		again    []any
		location string
	}{
		{"header", []any{"Idempotency-Key: code-1", body(t, seedPhoneCode)}, []any{"Idempotency-Key: code-1", resent}, "header.Idempotency-Key"},
		{"body", []any{withBodyKey(body(t, seedPhoneCode))}, []any{withBodyKey(resent)}, "body.idempotency_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, http.StatusCreated, f.api.Post("/api/v1/postings", tc.args...).Code)
			resp := f.api.Post("/api/v1/postings", tc.again...)
			require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
			require.Contains(t, resp.Header().Get("Content-Type"), "problem+json")
			var problem struct {
				Detail string `json:"detail"`
				Errors []struct {
					Location string `json:"location"`
					Message  string `json:"message"`
				} `json:"errors"`
			}
			decode(t, resp, &problem)
			require.Equal(t, "idempotency key already used with a different request", problem.Detail)
			require.Len(t, problem.Errors, 1)
			require.Equal(t, tc.location, problem.Errors[0].Location)
			require.Equal(t, http.StatusOK, f.api.Post("/api/v1/postings", tc.args...).Code, "the first body still answers")
		})
	}
	require.Len(t, f.bus.all(), 2, "one walk per key")
}

func TestMalformedOrOversizedKeysAre422(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	long := strings.Repeat("k", 257)
	for name, tc := range map[string]struct {
		args     []any
		location string
	}{
		"header too long": {[]any{"Idempotency-Key: " + long, body(t, seedPhoneCode)}, "header.Idempotency-Key"},
		"body too long": {[]any{func() map[string]any {
			b := body(t, seedPhoneCode)
			b["idempotency_key"] = long
			return b
		}()}, "body.idempotency_key"},
		"body with a NUL": {[]any{func() map[string]any {
			b := body(t, seedPhoneCode)
			b["idempotency_key"] = "k\x00"
			return b
		}()}, "body.idempotency_key"},
	} {
		resp := f.api.Post("/api/v1/postings", tc.args...)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, "%s: %s", name, resp.Body.String())
		require.Contains(t, resp.Header().Get("Content-Type"), "problem+json", name)
		require.Contains(t, resp.Body.String(), tc.location, name)
	}
	require.Empty(t, f.bus.all())
}
