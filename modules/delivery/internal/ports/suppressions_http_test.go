package ports_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/ports"
	"github.com/notifier/notifier/platform/clock"
)

// newSuppressionsAPI serves the suppression routes over a memory list with
// a fake clock.
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newSuppressionsAPI(t *testing.T) (humatest.TestAPI, *clock.Fake) {
	t.Helper()
	list := memory.NewSuppressions()
	clk := clock.NewFake(at)
	add, err := app.NewAddSuppressionHandler(list, clk, discard(), nil)
	require.NoError(t, err)
	query, err := app.NewListSuppressionsHandler(list)
	require.NoError(t, err)
	remove, err := app.NewDeleteSuppressionHandler(list, discard())
	require.NoError(t, err)
	port, err := ports.NewSuppressionsHTTP(add, query, remove)
	require.NoError(t, err)
	// The standard library's router, as the server's: it unescapes the
	// path parameters.
	api := humatest.Wrap(t, huma.NewAPI(huma.DefaultConfig("test", "1.0.0"), humago.NewAdapter(http.NewServeMux(), "")))
	port.RegisterRoutes(api)
	return api, clk
}

type suppressionItem struct {
	Address   string    `json:"address"`
	Channel   string    `json:"channel"`
	Reason    string    `json:"reason"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

type suppressionPage struct {
	Items      []suppressionItem `json:"items"`
	NextCursor *string           `json:"next_cursor"`
}

func TestAPostedAddressIs201ThenItsRepeat200WithTheFirstEntry(t *testing.T) {
	t.Parallel()
	api, clk := newSuppressionsAPI(t)

	resp := api.Post("/api/v1/suppressions", map[string]any{"address": "Anna@Example.com", "reason": "bounce"})
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	require.Equal(t, suppressionItem{Address: "anna@example.com", Channel: "email", Reason: "bounce", Source: "api", CreatedAt: at},
		decode[suppressionItem](t, resp.Body.Bytes()))

	clk.Advance(time.Hour)
	resp = api.Post("/api/v1/suppressions", map[string]any{"address": "anna@example.com", "channel": "email", "reason": "complaint"})
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	again := decode[suppressionItem](t, resp.Body.Bytes())
	require.Equal(t, "bounce", again.Reason, "the first reason stands")
	require.True(t, again.CreatedAt.Equal(at))

	resp = api.Post("/api/v1/suppressions", map[string]any{"address": "+7 (900) 123-45-67", "reason": "invalid number"})
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	got := decode[suppressionItem](t, resp.Body.Bytes())
	require.Equal(t, "+79001234567", got.Address)
	require.Equal(t, "sms", got.Channel)
}

func TestBadSuppressionsAre422NamingTheField(t *testing.T) {
	t.Parallel()
	api, _ := newSuppressionsAPI(t)
	for name, tc := range map[string]struct {
		body     map[string]any
		location string
	}{
		"malformed email":  {map[string]any{"address": "anna@", "reason": "bounce"}, "body.address"},
		"display name":     {map[string]any{"address": "Anna <anna@example.com>", "reason": "bounce"}, "body.address"},
		"not a phone":      {map[string]any{"address": "call me maybe", "reason": "bounce"}, "body.address"},
		"empty address":    {map[string]any{"address": "", "reason": "bounce"}, "body.address"},
		"oversized":        {map[string]any{"address": strings.Repeat("a", 400) + "@example.com", "reason": "bounce"}, "body.address"},
		"unknown channel":  {map[string]any{"address": "anna@example.com", "channel": "fax", "reason": "bounce"}, "body.channel"},
		"channel mismatch": {map[string]any{"address": "anna@example.com", "channel": "sms", "reason": "bounce"}, "body.address"},
		"blank reason":     {map[string]any{"address": "anna@example.com", "reason": "   "}, "body.reason"},
		"oversized reason": {map[string]any{"address": "anna@example.com", "reason": strings.Repeat("x", 501)}, "body.reason"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := api.Post("/api/v1/suppressions", tc.body)
			require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
			requireFieldNamed(t, resp.Body.Bytes(), tc.location)
		})
	}
	resp := api.Get("/api/v1/suppressions")
	require.Equal(t, http.StatusOK, resp.Code)
	require.Empty(t, decode[suppressionPage](t, resp.Body.Bytes()).Items, "nothing bad was added")
}

func TestTheSuppressionListIsPagedNewestFirstAndFiltered(t *testing.T) {
	t.Parallel()
	api, clk := newSuppressionsAPI(t)
	for _, a := range []string{"a@example.com", "b@example.com", "+79001234567", "c@example.com", "d@example.com"} {
		resp := api.Post("/api/v1/suppressions", map[string]any{"address": a, "reason": "bounce"})
		require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
		clk.Advance(time.Second)
	}

	var addresses []string
	path := "/api/v1/suppressions?limit=2"
	for range 10 {
		resp := api.Get(path)
		require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
		p := decode[suppressionPage](t, resp.Body.Bytes())
		require.LessOrEqual(t, len(p.Items), 2)
		for _, it := range p.Items {
			addresses = append(addresses, it.Address)
		}
		if p.NextCursor == nil {
			break
		}
		path = "/api/v1/suppressions?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	require.Equal(t, []string{"d@example.com", "c@example.com", "+79001234567", "b@example.com", "a@example.com"}, addresses)

	resp := api.Get("/api/v1/suppressions?address=" + url.QueryEscape("B@EXAMPLE.COM"))
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	p := decode[suppressionPage](t, resp.Body.Bytes())
	require.Len(t, p.Items, 1)
	require.Equal(t, "b@example.com", p.Items[0].Address)
	require.Nil(t, p.NextCursor)

	resp = api.Get("/api/v1/suppressions?channel=sms")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	p = decode[suppressionPage](t, resp.Body.Bytes())
	require.Len(t, p.Items, 1)
	require.Equal(t, "+79001234567", p.Items[0].Address)

	resp = api.Get("/api/v1/suppressions?address=nobody%40example.com")
	require.Equal(t, http.StatusOK, resp.Code)
	p = decode[suppressionPage](t, resp.Body.Bytes())
	require.NotNil(t, p.Items, "an empty list is [], not null")
	require.Empty(t, p.Items)
	require.Nil(t, p.NextCursor)
}

func TestBadSuppressionQueriesAre422NamingTheParameter(t *testing.T) {
	t.Parallel()
	api, _ := newSuppressionsAPI(t)
	for query, location := range map[string]string{
		"limit=0":                                "query.limit",
		"limit=501":                              "query.limit",
		"channel=fax":                            "query.channel",
		"cursor=bogus":                           "query.cursor",
		"cursor=" + strings.Repeat("x", 2001):    "query.cursor",
		"address=anna%40":                        "query.address",
		"address=anna%40example.com&channel=sms": "query.address",
	} {
		resp := api.Get("/api/v1/suppressions?" + query)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, "%s: %s", query, resp.Body.String())
		requireFieldNamed(t, resp.Body.Bytes(), location)
	}
}

func TestDeletingAnAddressIs204ThenItIsGone404(t *testing.T) {
	t.Parallel()
	api, _ := newSuppressionsAPI(t)
	for _, a := range []string{"anna@example.com", "+79001234567"} {
		resp := api.Post("/api/v1/suppressions", map[string]any{"address": a, "reason": "bounce"})
		require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	}

	resp := api.Delete("/api/v1/suppressions/" + url.PathEscape("Anna@Example.com"))
	require.Equal(t, http.StatusNoContent, resp.Code, resp.Body.String())
	resp = api.Delete("/api/v1/suppressions/anna%40example.com")
	require.Equal(t, http.StatusNotFound, resp.Code, resp.Body.String())
	require.Contains(t, resp.Body.String(), "not on the suppression list")

	resp = api.Delete("/api/v1/suppressions/" + url.PathEscape("+7 900 123-45-67"))
	require.Equal(t, http.StatusNoContent, resp.Code, resp.Body.String())

	resp = api.Get("/api/v1/suppressions")
	require.Empty(t, decode[suppressionPage](t, resp.Body.Bytes()).Items)

	resp = api.Delete("/api/v1/suppressions/not-an-address")
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	requireFieldNamed(t, resp.Body.Bytes(), "path.address")
	resp = api.Delete("/api/v1/suppressions/anna%40example.com?channel=fax")
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	requireFieldNamed(t, resp.Body.Bytes(), "query.channel")
}

func TestEverySuppressionFieldHasAnExampleInTheOpenAPIDocument(t *testing.T) {
	t.Parallel()
	api, _ := newSuppressionsAPI(t)
	oapi := api.OpenAPI()
	for _, name := range []string{"SuppressionItem", "AddSuppressionInputBody", "ListSuppressionsBody"} {
		schema := oapi.Components.Schemas.Map()[name]
		require.NotNil(t, schema, name)
		for field, prop := range schema.Properties {
			if prop.Type == "array" {
				continue // its items are a schema of their own
			}
			require.NotEmpty(t, prop.Examples, "%s.%s has no example", name, field)
		}
	}
	for path, item := range oapi.Paths {
		if !strings.HasPrefix(path, "/api/v1/suppressions") {
			continue
		}
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Delete} {
			if op == nil {
				continue
			}
			for _, p := range op.Parameters {
				hasExample := p.Example != nil || len(p.Examples) > 0 || (p.Schema != nil && len(p.Schema.Examples) > 0)
				require.True(t, hasExample, "%s %s: parameter %s has no example", op.Method, path, p.Name)
			}
		}
	}
}
