package ports_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/modules/delivery/internal/ports"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newAPI serves the delivery routes over store, with the built-in templates
// plus a broken one.
func newAPI(t *testing.T, store app.Store) humatest.TestAPI {
	t.Helper()
	fsys := fstest.MapFS{
		"email/broken.md": {Data: []byte("---\nsubject: Broken\n---\nfine line\n{% if %}\n")},
	}
	for _, name := range []string{
		"layouts/email.ru.html", "layouts/email.en.html", "email/new_movies.ru.md", "email/new_movies.en.md",
		"sms/phone_confirmation.ru.md", "sms/phone_confirmation.en.md",
	} {
		raw, err := templates.FS.ReadFile(name)
		require.NoError(t, err)
		fsys[name] = &fstest.MapFile{Data: raw}
	}
	renderer, err := templating.New(fsys, "ru")
	require.NoError(t, err)
	list, err := app.NewListDeliveriesHandler(store)
	require.NoError(t, err)
	preview, err := app.NewPreviewTemplateHandler(renderer)
	require.NoError(t, err)
	port, err := ports.NewHTTP(list, preview)
	require.NoError(t, err)
	_, api := humatest.New(t)
	port.RegisterRoutes(api)
	return api
}

type problem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(body, &v), string(body))
	return v
}

func requireFieldNamed(t *testing.T, body []byte, location string) problem {
	t.Helper()
	p := decode[problem](t, body)
	var locs []string
	for _, e := range p.Errors {
		locs = append(locs, e.Location)
	}
	require.Contains(t, locs, location, string(body))
	return p
}

func TestPreviewRendersTheTemplateForTheSampleRecipientOrTheGivenOne(t *testing.T) {
	t.Parallel()
	api := newAPI(t, memory.New())

	resp := api.Post("/api/v1/templates/preview", map[string]any{
		"template": "email/new_movies.md",
		"context":  map[string]any{"movies": []any{map[string]any{"title": "Брат <2>", "year": 2000}}},
	})
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	got := decode[map[string]string](t, resp.Body.Bytes())
	require.Equal(t, "Новый фильм в каталоге: Брат <2>", got["subject"])
	require.Contains(t, got["text"], "Здравствуйте, Иван!", "the sample recipient")
	require.Contains(t, got["text"], "Брат <2> (2000)")
	require.Contains(t, got["html"], "Брат &lt;2&gt;")

	resp = api.Post("/api/v1/templates/preview", map[string]any{
		"template": "sms/phone_confirmation.md",
		"context":  map[string]any{"secret_code": "4321", "user": map[string]any{"first_name": "Ольга"}},
	})
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	got = decode[map[string]string](t, resp.Body.Bytes())
	require.Equal(t, "Код подтверждения: 4321. Никому не сообщайте его.", got["text"])
	require.Empty(t, got["subject"])
	require.Empty(t, got["html"])
}

func TestPreviewRendersTheLocaleAskedForAndSaysWhichFile(t *testing.T) {
	t.Parallel()
	api := newAPI(t, memory.New())
	movies := []any{map[string]any{"title": "Stalker", "year": 1979}}
	tests := []struct {
		name   string
		body   map[string]any
		locale string
		file   string
		want   string
	}{
		{"no locale: the default", map[string]any{"template": "email/new_movies.md", "context": map[string]any{"movies": movies}},
			"ru", "email/new_movies.ru.md", "Здравствуйте, Иван!"},
		{"a full tag: its language", map[string]any{"template": "email/new_movies.md", "locale": "en-GB", "context": map[string]any{"movies": movies}},
			"en", "email/new_movies.en.md", "Hi Иван, new movies"},
		{"a tag as the directory writes it", map[string]any{"template": "email/new_movies.md", "locale": "EN_gb", "context": map[string]any{"movies": movies}},
			"en", "email/new_movies.en.md", "Just added: Stalker"},
		{"a language without files: the default", map[string]any{"template": "email/new_movies.md", "locale": "de", "context": map[string]any{"movies": movies}},
			"ru", "email/new_movies.ru.md", "Новинки в каталоге"},
		{"the context user's locale", map[string]any{"template": "email/new_movies.md", "context": map[string]any{
			"movies": movies, "user": map[string]any{"first_name": "Emma", "locale": "en-US"},
		}}, "en", "email/new_movies.en.md", "Hi Emma, new movies"},
		{"the body's locale over the user's", map[string]any{"template": "email/new_movies.md", "locale": "ru", "context": map[string]any{
			"movies": movies, "user": map[string]any{"first_name": "Emma", "locale": "en-US"},
		}}, "ru", "email/new_movies.ru.md", "Здравствуйте, Emma!"},
		{"an SMS", map[string]any{"template": "sms/phone_confirmation.md", "locale": "en", "context": map[string]any{"secret_code": "4321"}},
			"en", "sms/phone_confirmation.en.md", "Your confirmation code: 4321."},
	}
	for _, tt := range tests {
		resp := api.Post("/api/v1/templates/preview", tt.body)

		require.Equal(t, http.StatusOK, resp.Code, "%s: %s", tt.name, resp.Body.String())
		got := decode[map[string]string](t, resp.Body.Bytes())
		require.Equal(t, tt.locale, got["locale"], tt.name)
		require.Equal(t, tt.file, got["file"], tt.name)
		require.Contains(t, got["subject"]+"\n"+got["text"], tt.want, tt.name)
		if got["html"] != "" {
			require.Contains(t, got["html"], `<html lang="`+tt.locale+`">`, tt.name)
		}
	}
}

func TestPreviewOfAMalformedLocaleIs422NamingTheLocale(t *testing.T) {
	t.Parallel()
	api := newAPI(t, memory.New())
	for _, locale := range []string{"English", "und", "en--GB", "ru RU", strings.Repeat("a", 65), "x-private"} {
		resp := api.Post("/api/v1/templates/preview", map[string]any{"template": "email/new_movies.md", "locale": locale})

		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, "%q: %s", locale, resp.Body.String())
		requireFieldNamed(t, resp.Body.Bytes(), "body.locale")
		require.Contains(t, resp.Header().Get("Content-Type"), "problem+json")
	}
	resp := api.Post("/api/v1/templates/preview", map[string]any{"template": "email/new_movies.md", "locale": 7})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	requireFieldNamed(t, resp.Body.Bytes(), "body.locale")
}

func TestPreviewOfALocaleFileNamesTheTemplateToAskFor(t *testing.T) {
	t.Parallel()
	api := newAPI(t, memory.New())

	resp := api.Post("/api/v1/templates/preview", map[string]any{"template": "email/new_movies.en.md"})

	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	p := requireFieldNamed(t, resp.Body.Bytes(), "body.template")
	require.Equal(t, `"email/new_movies.en.md" is the en file of "email/new_movies.md": name "email/new_movies.md" and give locale "en"`,
		p.Errors[0].Message)
}

func TestTheOpenAPIDocumentShowsAPreviewInALocale(t *testing.T) {
	t.Parallel()
	api := newAPI(t, memory.New())
	op := api.OpenAPI().Paths["/api/v1/templates/preview"].Post

	media := op.RequestBody.Content["application/json"]
	require.NotNil(t, media.Schema, "the schema still comes from the input")
	require.Equal(t, "en-GB", media.Example.(map[string]any)["locale"])
	for _, schema := range []string{"PreviewTemplateInputBody", "PreviewTemplateBody"} {
		require.Contains(t, api.OpenAPI().Components.Schemas.Map()[schema].Properties, "locale", schema)
	}
	require.Contains(t, op.Description, "body.locale")
}

func TestPreviewOfAnUnknownTemplateIs422NamingTheTemplate(t *testing.T) {
	t.Parallel()
	api := newAPI(t, memory.New())
	for _, name := range []string{"email/nope.md", "push/new_movies.md", "../etc/passwd"} {
		resp := api.Post("/api/v1/templates/preview", map[string]any{"template": name})
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, name)
		p := requireFieldNamed(t, resp.Body.Bytes(), "body.template")
		require.Contains(t, p.Errors[0].Message, "unknown template")
	}
	resp := api.Post("/api/v1/templates/preview", map[string]any{"context": map[string]any{}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code)
	require.Contains(t, resp.Body.String(), "template", "a missing template is named")
}

func TestPreviewOfABrokenTemplateIs422WithTheFileAndLine(t *testing.T) {
	t.Parallel()
	api := newAPI(t, memory.New())
	resp := api.Post("/api/v1/templates/preview", map[string]any{"template": "email/broken.md"})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	p := requireFieldNamed(t, resp.Body.Bytes(), "body.template")
	require.Contains(t, p.Errors[0].Message, "email/broken.md:5")
	require.Contains(t, p.Detail, "email/broken.md:5")
}

func TestDeliveriesAreListedPageByPage(t *testing.T) {
	t.Parallel()
	store := memory.New()
	ctx := context.Background()
	var keys []domain.Key
	for i := range 5 {
		keys = append(keys, domain.Key{PostingID: "p1", UserID: fmt.Sprintf("u%d", i), Channel: "email"})
	}
	_, err := store.InsertPending(ctx, keys, at)
	require.NoError(t, err)
	_, _, err = store.Finish(ctx, keys[0], app.Final{Status: delivery.StatusSent, MessageID: keys[0].MessageID(), Provider: "primary", Attempted: true, At: at.Add(time.Second)})
	require.NoError(t, err)
	_, _, err = store.Finish(ctx, keys[3], app.Final{Status: delivery.StatusFailed, Error: "smtp: 550 5.1.1", Attempted: true, At: at})
	require.NoError(t, err)
	api := newAPI(t, store)

	type page struct {
		Items []struct {
			UserID   string     `json:"user_id"`
			Channel  string     `json:"channel"`
			Status   string     `json:"status"`
			Attempts int        `json:"attempts"`
			Error    *string    `json:"error"`
			SentAt   *time.Time `json:"sent_at"`
			Provider string     `json:"provider"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	var users []string
	path := "/api/v1/postings/p1/deliveries?limit=2"
	for range 10 {
		resp := api.Get(path)
		require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
		p := decode[page](t, resp.Body.Bytes())
		require.LessOrEqual(t, len(p.Items), 2)
		for _, it := range p.Items {
			users = append(users, it.UserID)
		}
		if len(users) == 1 || (len(users) == 2 && users[0] == "u0") {
			first := p.Items[0]
			require.Equal(t, "email", first.Channel)
			require.Equal(t, delivery.StatusSent, first.Status)
			require.Equal(t, 1, first.Attempts)
			require.Nil(t, first.Error)
			require.NotNil(t, first.SentAt)
			require.True(t, first.SentAt.Equal(at.Add(time.Second)))
			require.Equal(t, "primary", first.Provider)
		}
		if p.NextCursor == nil {
			break
		}
		path = "/api/v1/postings/p1/deliveries?limit=2&cursor=" + *p.NextCursor
	}
	require.Equal(t, []string{"u0", "u1", "u2", "u3", "u4"}, users)

	resp := api.Get("/api/v1/postings/p1/deliveries?status=failed")
	require.Equal(t, http.StatusOK, resp.Code)
	failed := decode[page](t, resp.Body.Bytes())
	require.Len(t, failed.Items, 1)
	require.Equal(t, "u3", failed.Items[0].UserID)
	require.Equal(t, "smtp: 550 5.1.1", *failed.Items[0].Error)
	require.Nil(t, failed.Items[0].SentAt)
	require.Nil(t, failed.NextCursor)

	resp = api.Get("/api/v1/postings/unknown/deliveries")
	require.Equal(t, http.StatusOK, resp.Code)
	require.JSONEq(t, `{"items":[]}`, strings.TrimSpace(resp.Body.String()))
}

func TestBadListQueriesAre422NamingTheParameter(t *testing.T) {
	t.Parallel()
	api := newAPI(t, memory.New())
	for query, location := range map[string]string{
		"limit=0":       "query.limit",
		"limit=501":     "query.limit",
		"status=gone":   "query.status",
		"cursor=%21%21": "query.cursor",
	} {
		resp := api.Get("/api/v1/postings/p1/deliveries?" + query)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, query)
		requireFieldNamed(t, resp.Body.Bytes(), location)
	}
}
