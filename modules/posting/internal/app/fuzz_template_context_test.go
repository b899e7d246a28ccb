package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/notifier/notifier/platform/upstream"
)

// recordingFetcher allows what an upstream.Client configured for auth and
// fastapi allows and records every URL it is asked to fetch. It answers
// {"url": <url>}, a page {"items": [<url>, <url>]} for a URL holding
// "page", and ErrNotFound for one holding "fail".
type recordingFetcher struct {
	policy  *upstream.Client
	fetched []string
}

func (f *recordingFetcher) Allowed(rawURL string) bool { return f.policy.Allowed(rawURL) }

func (f *recordingFetcher) GetJSON(_ context.Context, rawURL string, v any) error {
	f.fetched = append(f.fetched, rawURL)
	if strings.Contains(rawURL, "fail") {
		return fmt.Errorf("get: %w", upstream.ErrNotFound)
	}
	b, err := json.Marshal(answerTo(rawURL))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func answerTo(rawURL string) any {
	if strings.Contains(rawURL, "page") {
		return map[string]any{"items": []any{rawURL, rawURL}}
	}
	return map[string]any{"url": rawURL}
}

// mayFetch is the resolver's rule, written out: an http(s) URL of at most
// 2048 bytes, without credentials, on auth or fastapi, under /api/.
func mayFetch(s string) bool {
	if len(s) > 2048 || (!strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://")) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || !strings.HasPrefix(u.Path, "/api/") {
		return false
	}
	host := strings.ToLower(u.Hostname())
	return host == "auth" || host == "fastapi"
}

// dataURLsOf returns the URLs a context value asks to fetch: the value
// itself, or the elements of a list made only of such URLs.
func dataURLsOf(f *recordingFetcher, v any) []string {
	switch v := v.(type) {
	case string:
		if mayFetch(v) && f.Allowed(v) {
			return []string{v}
		}
	case []any:
		var urls []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok || !mayFetch(s) || !f.Allowed(s) {
				return nil
			}
			urls = append(urls, s)
		}
		return urls
	}
	return nil
}

// FuzzResolveTemplateContext checks the template-context resolver against
// any context: it fetches only URLs of allowed upstreams under /api/, from
// keys that are not links, at most maxContextFetches of them (a context
// asking for more fails naming a key); it fetches every data URL it is
// given and puts the answers (a page's items) in their place, and leaves
// every other value as it was. A failed fetch fails the context naming
// its key. The corpus is the brief's template contexts
// (testdata/fuzz/FuzzResolveTemplateContext).
func FuzzResolveTemplateContext(f *testing.F) {
	policy, err := upstream.New(upstream.Config{Attempts: 1}, nil,
		upstream.WithHandler("auth", http.NotFoundHandler()), upstream.WithHandler("fastapi", http.NotFoundHandler()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"movies": ["http://fastapi/api/v1/movies/1/", "https://fastapi/api/v1/movies/?new=True&page=2"], "title": "Новинки"}`))
	f.Add([]byte(`{"review": "https://fastapi/api/v1/fail/", "user_url": "http://auth/api/v1/users/1/", "mixed": ["http://auth/api/v1/x", 7]}`))
	f.Add([]byte(`{"evil": "http://10.0.0.1/api/v1/users/", "creds": "http://u:p@auth/api/v1/", "upper": "HTTP://auth/api/v1/", "up": "http://auth/api/../admin"}`))
	f.Add([]byte(`{"n": 1, "nested": {"movies": "http://fastapi/api/v1/movies/"}, "empty": [], "null": null}`))
	many := map[string]any{}
	for i := range maxContextFetches + 1 {
		many[fmt.Sprintf("k%03d", i)] = fmt.Sprintf("http://fastapi/api/v1/movies/%d/", i)
	}
	raw, err := json.Marshal(many)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"a": "http://fastapi/api/1", "list": [` + strings.Repeat(`"http://fastapi/api/1", `, maxContextFetches-1) + `"http://fastapi/api/1"]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var given map[string]any
		if json.Unmarshal(raw, &given) != nil {
			return
		}
		fetcher := &recordingFetcher{policy: policy}
		out, err := resolveTemplateContext(context.Background(), fetcher, given)

		var asked []string // the data URLs of the context, in the order of its keys
		for _, k := range sortedKeys(given) {
			if !isLinkKey(k) {
				asked = append(asked, dataURLsOf(fetcher, given[k])...)
			}
		}
		if len(fetcher.fetched) > maxContextFetches {
			t.Fatalf("%d URLs fetched, more than %d", len(fetcher.fetched), maxContextFetches)
		}
		for i, u := range fetcher.fetched {
			if !mayFetch(u) || i >= len(asked) || asked[i] != u {
				t.Fatalf("fetched %q, which is not the next data URL of the context (%q)", u, asked)
			}
		}

		if err != nil {
			ce, ok := isContextFetchError(err)
			if !ok {
				t.Fatalf("error %v names no key", err)
			}
			if _, ok := given[ce.Key]; !ok {
				t.Fatalf("error names %q, not a key of the context", ce.Key)
			}
			switch {
			case errors.Is(err, errTooManyURLs):
				if len(asked) <= maxContextFetches {
					t.Fatalf("%d data URLs refused as too many", len(asked))
				}
			case errors.Is(err, upstream.ErrNotFound):
				if last := fetcher.fetched[len(fetcher.fetched)-1]; !strings.Contains(last, "fail") {
					t.Fatalf("error %v after fetching %q, which worked", err, last)
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(asked) > maxContextFetches {
			t.Fatalf("a context with %d data URLs resolved", len(asked))
		}
		if len(fetcher.fetched) != len(asked) {
			t.Fatalf("fetched %q, want %q", fetcher.fetched, asked)
		}
		if len(out) != len(given) {
			t.Fatalf("resolved %d keys of %d", len(out), len(given))
		}
		for k, v := range given {
			want := v
			if urls := dataURLsOf(fetcher, v); !isLinkKey(k) && len(urls) > 0 {
				if _, single := v.(string); single {
					want = resolvedAnswer(urls[0])
				} else {
					list := []any{}
					for _, u := range urls {
						if items, ok := itemsOf(answerTo(u)); ok {
							list = append(list, items...)
						} else {
							list = append(list, answerTo(u))
						}
					}
					want = list
				}
			}
			if got, ok := out[k]; !ok || !reflect.DeepEqual(jsonOf(t, got), jsonOf(t, want)) {
				t.Fatalf("key %q: %v resolved as %v, want %v", k, v, got, want)
			}
		}
	})
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// resolvedAnswer is what a single data URL resolves to: its answer, or the
// items of a page.
func resolvedAnswer(u string) any {
	a := answerTo(u)
	if items, ok := itemsOf(a); ok {
		return items
	}
	return a
}

// jsonOf normalises a value to what it is as JSON.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}
