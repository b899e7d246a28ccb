package ports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2/humatest"

	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/modules/posting/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

// FuzzExpiresInJSON checks the HTTP expires_in: whatever JSON value it is
// given, an accepted one is positive and at most domain.MaxExpiresIn, a
// string means what domain.ParseExpiresIn makes of it and a number what
// domain.ExpiresInSeconds makes of it. The corpus is the brief's
// "120 sec" (testdata/fuzz/FuzzExpiresInJSON).
func FuzzExpiresInJSON(f *testing.F) {
	for _, s := range []string{`120`, `90.5`, `-5`, `0`, `1e-10`, `31622400`, `31622401`, `1e400`, `"2 min"`, `"\u0031h"`, `null`,
		`true`, `[]`, `{}`, `"9223372036854775807"`, `9223372036.854775807`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // the JSON decoder hands UnmarshalJSON one whole value
		}
		var e ports.ExpiresIn
		if err := e.UnmarshalJSON(raw); err != nil {
			t.Fatalf("UnmarshalJSON(%q): %v", raw, err)
		}
		d, err := e.Duration()
		if err == nil && (d <= 0 || d > domain.MaxExpiresIn) {
			t.Fatalf("%s accepted as %v, out of (0, %v]", raw, d, domain.MaxExpiresIn)
		}
		var s string
		var n float64
		var want time.Duration
		var wantErr error
		switch {
		case json.Unmarshal(raw, &s) == nil:
			want, wantErr = domain.ParseExpiresIn(s)
		case json.Unmarshal(raw, &n) == nil:
			want, wantErr = domain.ExpiresInSeconds(n)
		default:
			if err == nil {
				t.Fatalf("%s, neither a string nor a number, accepted as %v", raw, d)
			}
			return
		}
		if d != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("%s gives %v, %v; want %v, %v", raw, d, err, want, wantErr)
		}
	})
}

// fuzzBus counts what is sent.
type fuzzBus struct {
	mu sync.Mutex
	n  int
}

func (b *fuzzBus) Send(context.Context, any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	return nil
}

func (b *fuzzBus) Publish(ctx context.Context, v any) error { return b.Send(ctx, v) }

func (b *fuzzBus) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

type fuzzPosting struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Receivers    string     `json:"receivers"`
	Template     string     `json:"template"`
	DeliveryType []string   `json:"delivery_type"`
	Priority     string     `json:"priority"`
	ExpiresAt    *time.Time `json:"expires_at"`
}

type fuzzProblem struct {
	Status int `json:"status"`
	Errors []struct {
		Location string `json:"location"`
	} `json:"errors"`
}

// FuzzCreatePostingHTTP sends any body to POST /api/v1/postings through
// the Huma API and checks the answer: never a 5xx; a 4xx is problem+json,
// and a 422 names fields of the body or its headers; a 201 is a posting on
// a configured upstream's http(s) URL with a readable query, with known channels and lane, an
// expires_at expires_in after now when one was given, and its location;
// and the same body again is 200 with the same posting and sends nothing.
// The corpus is the brief's three postings (testdata/fuzz/FuzzCreatePostingHTTP).
func FuzzCreatePostingHTTP(f *testing.F) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(now)
	bus := &fuzzBus{}
	store := memory.New()
	client, err := upstream.New(upstream.Config{Attempts: 1}, logger,
		upstream.WithHandler("auth", http.NotFoundHandler()), upstream.WithHandler("fastapi", http.NotFoundHandler()))
	if err != nil {
		f.Fatal(err)
	}
	renderer, err := templating.New(templates.FS, "ru")
	if err != nil {
		f.Fatal(err)
	}
	create, err := app.NewCreatePostingHandler(store, db.NoTx{}, bus, bus, renderer, client, clk, logger)
	if err != nil {
		f.Fatal(err)
	}
	get, err := app.NewGetPostingHandler(store)
	if err != nil {
		f.Fatal(err)
	}
	list, err := app.NewListPostingsHandler(store)
	if err != nil {
		f.Fatal(err)
	}
	cancel, err := app.NewCancelPostingHandler(store, db.NoTx{}, bus, clk, logger)
	if err != nil {
		f.Fatal(err)
	}
	h, err := ports.NewHTTP(create, get, list, cancel, clk, logger)
	if err != nil {
		f.Fatal(err)
	}
	router, api := humatest.New(f)
	h.RegisterRoutes(api)
	post := func(body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/postings", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, req)
		return rec
	}

	for _, s := range []string{
		`{"receivers": "http://auth/api/v1/users/?id=1", "template": "sms/phone_confirmation.md", "delivery_type": ["sms", "email"], "expires_in": 120}`,
		`{"receivers": "http://auth/api/v1/users/", "template": "email/new_movies.md", "delivery_type": ["email"], "priority": "bulk", "send_at": "2026-03-02T00:00:00Z", "expires_in": "1h"}`,
		`{"receivers": "http://auth/api/v1/users/", "template": "email/new_movies.md", "delivery_type": ["email"], "expires_in": null}`,
		`{"receivers": "http://auth/api/v1/users/?id=a;b", "template": "email/new_movies.md", "delivery_type": ["email"]}`,
		`{"receivers": "http://auth/api/v1/users/", "template": "email/new_movies.md", "delivery_type": ["email"], "template_context": {"a": "\u0000"}}`,
		`{"receivers": "http://auth/api/v1/users/", "template": "email/new_movies.md", "delivery_type": ["email"], "send_at": "2026-03-01T10:00:00Z", "expires_in": 60}`,
		`[]`, `null`, `{"receivers": 5}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(body)
		switch code := rec.Code; {
		case code == http.StatusCreated || code == http.StatusOK:
		case code >= 500 || code < 400:
			t.Fatalf("%s answered %d: %s", body, code, rec.Body)
		default:
			if !strings.Contains(rec.Header().Get("Content-Type"), "problem+json") {
				t.Fatalf("%s answered %d as %q", body, code, rec.Header().Get("Content-Type"))
			}
			var p fuzzProblem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != code {
				t.Fatalf("%s answered %d with %s (%v)", body, code, rec.Body, err)
			}
			if code == http.StatusUnprocessableEntity {
				if len(p.Errors) == 0 {
					t.Fatalf("%s answered 422 naming no field: %s", body, rec.Body)
				}
				for _, e := range p.Errors {
					if !strings.HasPrefix(e.Location, "body") && !strings.HasPrefix(e.Location, "header.") {
						t.Fatalf("%s answered 422 naming %q: %s", body, e.Location, rec.Body)
					}
				}
			}
			return
		}

		var p fuzzPosting
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s answered %d with %s: %v", body, rec.Code, rec.Body, err)
		}
		u, err := url.Parse(p.Receivers)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !client.Allowed(p.Receivers) {
			t.Fatalf("%s accepted with receivers %q", body, p.Receivers)
		}
		if host := strings.ToLower(u.Hostname()); host != "auth" && host != "fastapi" {
			t.Fatalf("%s accepted on host %q", body, host)
		}
		if _, err := url.ParseQuery(u.RawQuery); err != nil {
			t.Fatalf("%s accepted with receivers %q, whose query the directory cannot read", body, p.Receivers)
		}
		if len(p.DeliveryType) == 0 {
			t.Fatalf("%s accepted without channels", body)
		}
		for i, ch := range p.DeliveryType {
			if (ch != "email" && ch != "sms") || slices.Contains(p.DeliveryType[:i], ch) {
				t.Fatalf("%s accepted with channels %v", body, p.DeliveryType)
			}
		}
		if p.Priority != "transactional" && p.Priority != "bulk" {
			t.Fatalf("%s accepted with priority %q", body, p.Priority)
		}
		if !slices.Contains([]string{"accepted", "scheduled", "expired"}, p.Status) {
			t.Fatalf("%s accepted in status %q", body, p.Status)
		}
		if rec.Code == http.StatusCreated && rec.Header().Get("Location") != "/api/v1/postings/"+p.ID {
			t.Fatalf("%s created %s at %q", body, p.ID, rec.Header().Get("Location"))
		}
		var sent struct {
			ExpiresIn json.RawMessage `json:"expires_in"`
		}
		if json.Unmarshal(body, &sent) == nil && len(sent.ExpiresIn) > 0 && !bytes.Equal(sent.ExpiresIn, []byte("null")) {
			if p.ExpiresAt == nil || !p.ExpiresAt.After(now) || p.ExpiresAt.Sub(now) > domain.MaxExpiresIn {
				t.Fatalf("%s accepted with expires_at %v", body, p.ExpiresAt)
			}
		}

		sends := bus.count()
		again := post(body)
		var p2 fuzzPosting
		if again.Code != http.StatusOK || json.Unmarshal(again.Body.Bytes(), &p2) != nil || p2.ID != p.ID || bus.count() != sends {
			t.Fatalf("%s again answered %d %s, want 200 with %s and nothing sent", body, again.Code, again.Body, p.ID)
		}
	})
}
