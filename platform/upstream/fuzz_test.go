package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/notifier/notifier/platform/upstream"
)

// recordingTransport answers {} to every request and records its URL; no
// request leaves the process.
type recordingTransport struct {
	mu   sync.Mutex
	urls []*url.URL
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, req.URL)
	rt.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

func (rt *recordingTransport) take() []*url.URL {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := rt.urls
	rt.urls = nil
	return out
}

// FuzzAllowed checks the SSRF guard that receivers and template-context
// URLs go through: a URL Allowed accepts is an http(s) URL without
// credentials or dot segments whose host is a configured upstream, and
// GetJSON then makes exactly one request, to that upstream's base URL
// (under its path prefix) or its in-process handler; a URL it refuses
// makes no request at all. The corpus is the brief's receivers and
// template-context URLs (testdata/fuzz/FuzzAllowed).
func FuzzAllowed(f *testing.F) {
	network := &recordingTransport{}
	var (
		mu    sync.Mutex
		local []*url.URL
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		local = append(local, r.URL)
		mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	})
	c, err := upstream.New(upstream.Config{
		Upstreams: map[string]string{"auth": "http://10.0.0.5:8000/prefix", "fastapi": "https://api.internal"},
		Attempts:  1,
	}, nil, upstream.WithHTTPClient(&http.Client{Transport: network}), upstream.WithHandler("activity_api", handler))
	if err != nil {
		f.Fatal(err)
	}
	bases := map[string]string{"auth": "http://10.0.0.5:8000/prefix/", "fastapi": "https://api.internal/"}

	for _, s := range []string{
		"HTTP://Auth:9000/api/v1/users/", "http://auth/api/v1/users/../../admin", "http://auth/api/%2e%2e/x", "http://user:pw@auth/",
		"ftp://auth/", "http://auth.evil.com/", "http://evil.com/?u=http://auth/", "http://10.0.0.5:8000/prefix/", "//auth/api/",
		"http://[::1]/", "https://activity_api/api/v1/reviews/42?x=%zz#frag", "http://auth\\@evil.com/", "http://auth%2f/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		allowed := c.Allowed(raw)
		getErr := c.GetJSON(context.Background(), raw, new(any))
		sent := network.take()
		mu.Lock()
		served := local
		local = nil
		mu.Unlock()

		if !allowed {
			if !errors.Is(getErr, upstream.ErrHostNotAllowed) && !errors.Is(getErr, upstream.ErrInvalidURL) {
				t.Fatalf("%q refused by Allowed, but GetJSON says %v", raw, getErr)
			}
			if len(sent)+len(served) != 0 {
				t.Fatalf("%q refused, but requests went out: %v %v", raw, sent, served)
			}
			return
		}

		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
			t.Fatalf("%q allowed: not a plain http(s) URL (%v)", raw, err)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q allowed with a dot segment", raw)
			}
		}
		host := strings.ToLower(u.Hostname())
		if getErr != nil {
			t.Fatalf("%q allowed, but GetJSON failed: %v", raw, getErr)
		}
		switch base, configured := bases[host]; {
		case configured:
			if len(sent) != 1 || len(served) != 0 {
				t.Fatalf("%q on %s: requests %v %v, want one to the network", raw, host, sent, served)
			}
			if got := sent[0].String(); !strings.HasPrefix(got, base) || !strings.HasPrefix(base, sent[0].Scheme+"://"+sent[0].Host+"/") {
				t.Fatalf("%q on %s went to %q, outside %q", raw, host, got, base)
			}
		case host == "activity_api":
			if len(served) != 1 || len(sent) != 0 {
				t.Fatalf("%q on %s: requests %v %v, want one in process", raw, host, sent, served)
			}
		default:
			t.Fatalf("%q allowed on host %q, which is not configured", raw, host)
		}
	})
}
