package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/notifier/notifier/platform/upstream"
)

// newClient returns a Client with fast retries; cfg's zero fields are filled in.
func newClient(t *testing.T, cfg upstream.Config, opts ...upstream.Option) *upstream.Client {
	t.Helper()
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	c, err := upstream.New(cfg, nil, opts...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

// countingServer starts an httptest server that counts requests and answers with h.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func TestParseUpstreams(t *testing.T) {
	t.Parallel()
	got, err := upstream.ParseUpstreams(" auth=http://10.0.0.5:8000 , FastAPI=https://api.example.com/v2/,activity_api=http://127.0.0.1:9000,")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := map[string]string{
		"auth":         "http://10.0.0.5:8000",
		"fastapi":      "https://api.example.com/v2/",
		"activity_api": "http://127.0.0.1:9000",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}

	empty, err := upstream.ParseUpstreams("")
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty string: got %v, %v; want an empty map", empty, err)
	}

	for _, bad := range []string{
		"auth",                           // no base URL
		"=http://10.0.0.5",               // empty name
		"auth=",                          // empty base URL
		"auth=10.0.0.5:8000",             // not absolute
		"auth=/api",                      // relative
		"auth=ftp://10.0.0.5",            // not http(s)
		"auth=http://u:p@10.0.0.5",       // credentials
		"auth=http://10.0.0.5/?x=1",      // query
		"auth=http://10.0.0.5/#frag",     // fragment
		"auth=http://a,auth=http://b",    // repeated
		"au/th=http://10.0.0.5",          // not a host name
		"auth=http://10.0.0.5,bad entry", // second entry broken
	} {
		if _, err := upstream.ParseUpstreams(bad); err == nil {
			t.Errorf("ParseUpstreams(%q): want an error", bad)
		}
	}
}

func TestNewRejectsInvalidConfiguration(t *testing.T) {
	t.Parallel()
	ok := http.NotFoundHandler()
	for name, tc := range map[string]struct {
		cfg  upstream.Config
		opts []upstream.Option
	}{
		"relative base url":  {cfg: upstream.Config{Upstreams: map[string]string{"auth": "/x"}}},
		"empty name":         {cfg: upstream.Config{Upstreams: map[string]string{"": "http://127.0.0.1"}}},
		"negative timeout":   {cfg: upstream.Config{Timeout: -1}},
		"negative attempts":  {cfg: upstream.Config{Attempts: -1}},
		"negative max bytes": {cfg: upstream.Config{MaxBytes: -1}},
		"nil handler":        {opts: []upstream.Option{upstream.WithHandler("auth", nil)}},
		"empty handler name": {opts: []upstream.Option{upstream.WithHandler("", ok)}},
		"nil http client":    {opts: []upstream.Option{upstream.WithHTTPClient(nil)}},
	} {
		if _, err := upstream.New(tc.cfg, nil, tc.opts...); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestGetJSONMapsLogicalHostToBaseURL(t *testing.T) {
	t.Parallel()
	var gotPath, gotQuery, gotAccept, gotAgent string
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.EscapedPath(), r.URL.RawQuery
		gotAccept, gotAgent = r.Header.Get("Accept"), r.Header.Get("User-Agent")
		writeJSON(w, `{"id":"42"}`)
	})
	for _, tc := range []struct {
		base, url, path, query string
	}{
		{srv.URL, "https://auth/api/v1/users/6f1c/", "/api/v1/users/6f1c/", ""},
		{srv.URL + "/", "http://auth/api/v1/users/?id=x&page_number=2", "/api/v1/users/", "id=x&page_number=2"},
		{srv.URL + "/directory", "http://auth:8000/api/v1/users/?id=x", "/directory/api/v1/users/", "id=x"},
		{srv.URL + "/directory/", "http://AUTH/api/v1/users/a%2Fb/", "/directory/api/v1/users/a%2Fb/", ""},
		{srv.URL + "/directory", "http://auth?x=1", "/directory/", "x=1"},
	} {
		c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": tc.base}})
		var got struct{ ID string }
		if err := c.GetJSON(context.Background(), tc.url, &got); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if got.ID != "42" {
			t.Errorf("%s: decoded %+v", tc.url, got)
		}
		if gotPath != tc.path || gotQuery != tc.query {
			t.Errorf("%s via %s: requested %s?%s, want %s?%s", tc.url, tc.base, gotPath, gotQuery, tc.path, tc.query)
		}
		if gotAccept != "application/json" || gotAgent != "notifier" {
			t.Errorf("headers: Accept %q, User-Agent %q", gotAccept, gotAgent)
		}
	}
}

func TestGetJSONRefusesHostsThatAreNotConfigured(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, `{}`) })
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}})
	for _, u := range []string{
		srv.URL + "/api/v1/users/", // the real address itself is not a logical host
		"http://evil.example.com/api/v1/users/",
		"http://169.254.169.254/latest/meta-data/",
		"file:///etc/passwd",
		"gopher://auth/x",
		"/api/v1/users/",
		"",
	} {
		var v any
		err := c.GetJSON(context.Background(), u, &v)
		if !errors.Is(err, upstream.ErrHostNotAllowed) {
			t.Errorf("GetJSON(%q) = %v, want ErrHostNotAllowed", u, err)
		}
		if upstream.IsTransient(err) {
			t.Errorf("GetJSON(%q): refusal must be permanent", u)
		}
		if c.Allowed(u) {
			t.Errorf("Allowed(%q) = true", u)
		}
	}
	for _, u := range []string{
		"http://user:secret@auth/api/v1/users/",
		"http://auth@auth/api/v1/users/",
		"http://auth/api/v1/../../admin",
		"http://auth/./x",
		"http://auth/%zz",
	} {
		var v any
		err := c.GetJSON(context.Background(), u, &v)
		if !errors.Is(err, upstream.ErrInvalidURL) {
			t.Errorf("GetJSON(%q) = %v, want ErrInvalidURL", u, err)
		}
		if c.Allowed(u) {
			t.Errorf("Allowed(%q) = true", u)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the server, want none", n)
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": "http://127.0.0.1:1"}},
		upstream.WithHandler("fastapi", http.NotFoundHandler()))
	for u, want := range map[string]bool{
		"http://auth/api/v1/users/?id=1":      true,
		"https://auth:8443/api/v1/users/":     true,
		"HTTP://Auth/x":                       true,
		"http://fastapi/api/v1/movies/?new=1": true,
		"http://activity_api/api/v1/reviews/": false,
		"ftp://auth/x":                        false,
		"http://auth.evil.com/x":              false,
		"http://u:p@auth/x":                   false,
		"not a url at all":                    false,
	} {
		if got := c.Allowed(u); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", u, got, want)
		}
	}
}

func TestGetJSONRetriesServerErrorsAndTooManyRequests(t *testing.T) {
	t.Parallel()
	answers := []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK}
	var calls atomic.Int32
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if code := answers[calls.Add(1)-1]; code != http.StatusOK {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(code)
			return
		}
		writeJSON(w, `{"ok":true}`)
	})
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}, Attempts: 3})
	var got struct{ OK bool }
	if err := c.GetJSON(context.Background(), "http://auth/api/v1/users/", &got); err != nil {
		t.Fatalf("GetJSON: %v", err)
	}
	if !got.OK || hits.Load() != 3 {
		t.Fatalf("got %+v after %d requests, want success on the third", got, hits.Load())
	}
}

func TestGetJSONReturnsTransientErrorAfterLastAttempt(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}, Attempts: 4})
	var v any
	err := c.GetJSON(context.Background(), "http://auth/api/v1/users/", &v)
	var se *upstream.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadGateway {
		t.Fatalf("GetJSON = %v, want a *StatusError 502", err)
	}
	if !upstream.IsTransient(err) {
		t.Errorf("IsTransient(%v) = false", err)
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

func TestGetJSONClientErrorsArePermanent(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusNotFound, http.StatusBadRequest, http.StatusForbidden, http.StatusGone} {
		srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"status":` + fmt.Sprint(code) + `}`))
		})
		c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}})
		var v any
		err := c.GetJSON(context.Background(), "http://auth/api/v1/users/x/", &v)
		var se *upstream.StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Errorf("%d: GetJSON = %v, want a *StatusError", code, err)
		}
		if got := errors.Is(err, upstream.ErrNotFound); got != (code == http.StatusNotFound) {
			t.Errorf("%d: errors.Is(err, ErrNotFound) = %v", code, got)
		}
		if upstream.IsTransient(err) {
			t.Errorf("%d: IsTransient = true", code)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%d: %d requests, want 1", code, n)
		}
	}
}

func TestGetJSONTimesOutEachAttempt(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers in time
	})
	c := newClient(t, upstream.Config{
		Upstreams: map[string]string{"auth": srv.URL},
		Timeout:   20 * time.Millisecond,
		Attempts:  2,
	})
	var v any
	err := c.GetJSON(context.Background(), "http://auth/api/v1/users/", &v)
	if err == nil || !upstream.IsTransient(err) {
		t.Fatalf("GetJSON = %v, want a transient timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetJSON = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestGetJSONRetriesDroppedConnections(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		writeJSON(w, `[1,2,3]`)
	})
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}})
	var got []int
	if err := c.GetJSON(context.Background(), "http://auth/api/v1/users/", &got); err != nil {
		t.Fatalf("GetJSON: %v", err)
	}
	if len(got) != 3 || hits.Load() != 2 {
		t.Fatalf("got %v after %d requests", got, hits.Load())
	}
}

func TestGetJSONStopsWhenContextIsCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := newClient(t, upstream.Config{
		Upstreams: map[string]string{"auth": srv.URL},
		Attempts:  5,
		Backoff:   time.Hour, // a retry would hang the test
	})
	var v any
	err := c.GetJSON(ctx, "http://auth/api/v1/users/", &v)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("GetJSON = %v, want context.Canceled", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}

	hits.Store(0)
	if err := c.GetJSON(ctx, "http://auth/api/v1/users/", &v); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetJSON on a cancelled context = %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("cancelled context: %d requests, want none", n)
	}
}

func TestGetJSONCapsResponseSize(t *testing.T) {
	t.Parallel()
	big := `{"text":"` + strings.Repeat("x", 200) + `"}`
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = w.Write([]byte(big))
	})
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}, MaxBytes: 100})
	for _, u := range []string{"http://auth/x", "http://auth/x?chunked=1"} {
		var v any
		err := c.GetJSON(context.Background(), u, &v)
		if !errors.Is(err, upstream.ErrResponseTooLarge) || upstream.IsTransient(err) {
			t.Errorf("GetJSON(%s) = %v, want a permanent ErrResponseTooLarge", u, err)
		}
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (no retries)", n)
	}

	exact := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}, MaxBytes: int64(len(big))})
	var v any
	if err := exact.GetJSON(context.Background(), "http://auth/x", &v); err != nil {
		t.Errorf("a body of exactly MaxBytes: %v", err)
	}
}

func TestGetJSONRejectsInvalidJSON(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`<html>oops</html>`))
	})
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}})
	var v any
	err := c.GetJSON(context.Background(), "http://auth/x", &v)
	if !errors.Is(err, upstream.ErrInvalidResponse) || upstream.IsTransient(err) {
		t.Fatalf("GetJSON = %v, want a permanent ErrInvalidResponse", err)
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests, want 1", hits.Load())
	}
}

func TestGetJSONNeverLogsOrReturnsTheQuery(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := upstream.New(upstream.Config{
		Upstreams: map[string]string{"auth": srv.URL},
		Backoff:   time.Millisecond,
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	err = c.GetJSON(context.Background(), "http://auth/api/v1/users/?email=anna.secret%40example.com&page_number=1", &v)
	if err == nil {
		t.Fatal("want an error")
	}
	for what, text := range map[string]string{"logs": logs.String(), "error": err.Error()} {
		if strings.Contains(text, "anna.secret") || strings.Contains(text, "email=") {
			t.Errorf("%s leak the query: %s", what, text)
		}
	}
	if !strings.Contains(logs.String(), "path=/api/v1/users/") || !strings.Contains(logs.String(), "host=auth") {
		t.Errorf("logs should name host and path: %s", logs.String())
	}

	// A network error from net/http quotes the full URL; it must be stripped too.
	srv.Close()
	err = c.GetJSON(context.Background(), "http://auth/api/v1/users/?email=anna.secret%40example.com", &v)
	if err == nil || strings.Contains(err.Error(), "anna.secret") || !upstream.IsTransient(err) {
		t.Errorf("network error = %v, want a transient error without the query", err)
	}
}

func TestWithHandlerServesInProcess(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/users/{id}/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, fmt.Sprintf(`{"id":%q,"page":%q,"accept":%q}`,
			r.PathValue("id"), r.URL.Query().Get("page_number"), r.Header.Get("Accept")))
	})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := newClient(t, upstream.Config{Timeout: 20 * time.Millisecond, Attempts: 2}, upstream.WithHandler("Auth", mux))

	var got struct{ ID, Page, Accept string }
	if err := c.GetJSON(context.Background(), "https://auth/api/v1/users/u1/?page_number=2", &got); err != nil {
		t.Fatalf("GetJSON: %v", err)
	}
	if got.ID != "u1" || got.Page != "2" || got.Accept != "application/json" {
		t.Errorf("got %+v", got)
	}

	var v any
	if err := c.GetJSON(context.Background(), "http://auth/nowhere", &v); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("unknown path: %v, want ErrNotFound", err)
	}
	var se *upstream.StatusError
	if err := c.GetJSON(context.Background(), "http://auth/panic", &v); !errors.As(err, &se) || se.Code != 500 {
		t.Errorf("panicking handler: %v, want a 500", err)
	}
	if err := c.GetJSON(context.Background(), "http://auth/slow", &v); !upstream.IsTransient(err) {
		t.Errorf("slow handler: %v, want a transient timeout", err)
	}
}

func TestConfiguredUpstreamTakesPrecedenceOverHandler(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, `"network"`) })
	inProcess := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, `"in-process"`) })
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}}, upstream.WithHandler("auth", inProcess))
	var got string
	if err := c.GetJSON(context.Background(), "http://auth/x", &got); err != nil {
		t.Fatal(err)
	}
	if got != "network" || hits.Load() != 1 {
		t.Errorf("got %q from %d network requests", got, hits.Load())
	}
}

func TestRedirectsStayOnTheUpstream(t *testing.T) {
	t.Parallel()
	elsewhere, elsewhereHits := countingServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, `{}`) })
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/users":
			http.Redirect(w, r, "/api/v1/users/", http.StatusMovedPermanently)
		case "/api/v1/users/":
			writeJSON(w, `{"items":[]}`)
		default:
			http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusFound)
		}
	})
	c := newClient(t, upstream.Config{Upstreams: map[string]string{"auth": srv.URL}})
	var v any
	if err := c.GetJSON(context.Background(), "http://auth/api/v1/users", &v); err != nil {
		t.Errorf("redirect within the upstream: %v", err)
	}
	err := c.GetJSON(context.Background(), "http://auth/other", &v)
	if !errors.Is(err, upstream.ErrHostNotAllowed) || upstream.IsTransient(err) {
		t.Errorf("redirect to another host: %v, want a permanent ErrHostNotAllowed", err)
	}
	if n := elsewhereHits.Load(); n != 0 {
		t.Errorf("%d requests followed the redirect elsewhere", n)
	}
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]bool{
		nil:                                       false,
		errors.New("x"):                           false,
		upstream.ErrHostNotAllowed:                false,
		upstream.ErrNotFound:                      false,
		&upstream.StatusError{Code: 400}:          false,
		&upstream.StatusError{Code: 404}:          false,
		&upstream.StatusError{Code: 429}:          true,
		&upstream.StatusError{Code: 500}:          true,
		&upstream.StatusError{Code: 503}:          true,
		fmt.Errorf("w: %w", context.Canceled):     true,
		context.DeadlineExceeded:                  true,
		fmt.Errorf("w: %w", upstream.ErrNotFound): false,
	} {
		if got := upstream.IsTransient(err); got != want {
			t.Errorf("IsTransient(%v) = %v, want %v", err, got, want)
		}
	}
}
