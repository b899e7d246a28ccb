package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// maxContextFetches bounds the URLs one template context may make Notifier
// fetch.
const maxContextFetches = 100

// JSONFetcher fetches JSON from the configured upstreams (*upstream.Client).
type JSONFetcher interface {
	Allowed(rawURL string) bool
	GetJSON(ctx context.Context, rawURL string, v any) error
}

// contextFetchError is a failure to resolve one value of a template context.
type contextFetchError struct {
	Key string
	Err error
}

func (e *contextFetchError) Error() string {
	return fmt.Sprintf("template context %q: %v", e.Key, e.Err)
}
func (e *contextFetchError) Unwrap() error { return e.Err }

// isLinkKey reports whether a context key names a link to keep as given.
func isLinkKey(k string) bool {
	return strings.HasSuffix(k, "_url") || strings.HasSuffix(k, "_link")
}

var errTooManyURLs = fmt.Errorf("more than %d URLs to fetch", maxContextFetches)

// resolveTemplateContext returns given with its data URLs replaced by what
// they answer. A string that is an http(s) URL of an allowed upstream with a
// path under /api/ is fetched as JSON, and so is a list made only of such
// URLs (giving the list of answers); an answer with an "items" array (a
// page) stands for that array, spliced into a list. Every other value,
// such as a confirmation link, is kept verbatim, and so is any value whose
// key ends in "_url" or "_link": those name links for the reader, not data.
//
// It returns a *contextFetchError naming the key whose fetch failed.
func resolveTemplateContext(ctx context.Context, f JSONFetcher, given map[string]any) (map[string]any, error) {
	if given == nil {
		return map[string]any{}, nil
	}
	keys := make([]string, 0, len(given))
	for k := range given {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]any, len(given))
	budget := maxContextFetches
	for _, k := range keys {
		v := given[k]
		if isLinkKey(k) {
			out[k] = v
			continue
		}
		if s, ok := v.(string); ok && isDataURL(f, s) {
			if budget < 1 {
				return nil, &contextFetchError{Key: k, Err: errTooManyURLs}
			}
			budget--
			answer, err := fetchJSON(ctx, f, s)
			if err != nil {
				return nil, &contextFetchError{Key: k, Err: err}
			}
			if items, ok := itemsOf(answer); ok {
				answer = items
			}
			out[k] = answer
			continue
		}
		if urls, ok := dataURLList(f, v); ok {
			if len(urls) > budget {
				return nil, &contextFetchError{Key: k, Err: errTooManyURLs}
			}
			budget -= len(urls)
			list := []any{}
			for _, u := range urls {
				answer, err := fetchJSON(ctx, f, u)
				if err != nil {
					return nil, &contextFetchError{Key: k, Err: err}
				}
				if items, ok := itemsOf(answer); ok {
					list = append(list, items...)
				} else {
					list = append(list, answer)
				}
			}
			out[k] = list
			continue
		}
		out[k] = v
	}
	return out, nil
}

func fetchJSON(ctx context.Context, f JSONFetcher, rawURL string) (any, error) {
	var v any
	if err := f.GetJSON(ctx, rawURL, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// isDataURL reports whether s is a URL the context resolver fetches.
func isDataURL(f JSONFetcher, s string) bool {
	if len(s) > maxReceiversLength || (!strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://")) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || !strings.HasPrefix(u.Path, "/api/") {
		return false
	}
	return f.Allowed(s)
}

// dataURLList returns v's URLs when v is a non-empty list of data URLs.
func dataURLList(f JSONFetcher, v any) ([]string, bool) {
	var urls []string
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			urls = append(urls, s)
		}
	case []string:
		urls = v
	default:
		return nil, false
	}
	if len(urls) == 0 {
		return nil, false
	}
	for _, u := range urls {
		if !isDataURL(f, u) {
			return nil, false
		}
	}
	return urls, true
}

// itemsOf returns the "items" array of a page answer.
func itemsOf(answer any) ([]any, bool) {
	obj, ok := answer.(map[string]any)
	if !ok {
		return nil, false
	}
	items, ok := obj["items"].([]any)
	return items, ok
}

// isContextFetchError reports whether err came from resolving a context.
func isContextFetchError(err error) (*contextFetchError, bool) {
	var e *contextFetchError
	ok := errors.As(err, &e)
	return e, ok
}
