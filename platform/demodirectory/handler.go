package demodirectory

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Paging limits of every list endpoint.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Page is the answer of every list endpoint. An empty Items ends a walk.
type Page[T any] struct {
	Items      []T `json:"items"`
	PageNumber int `json:"page_number"`
	PageSize   int `json:"page_size"`
	Total      int `json:"total"`
}

// NewAuth returns the directory ("auth") handler over d's users:
//
//	GET /api/v1/users/        filters id (repeatable, or comma-separated), is_active,
//	                          email_notifications, subscribed_series, review_id;
//	                          paging page_number (from 1), page_size (default 50,
//	                          at most 1000); users in id order
//	GET /api/v1/users/<uuid>/ the user object itself
//
// Trailing slashes are optional. An unknown query parameter or a malformed value is
// a 400 and an unknown user or path a 404, both problem+json. d is indexed once and
// must not change afterwards. A nil d serves nothing.
func NewAuth(d *Data) http.Handler {
	d = orEmpty(d)
	a := &auth{users: sortedUsers(d.Users), byID: make(map[string]int, len(d.Users)), reviewAuthor: make(map[string]string)}
	for i, u := range a.users {
		a.byID[u.ID] = i
	}
	for _, r := range d.Reviews {
		a.reviewAuthor[r.ID] = r.AuthorID
	}
	mux := http.NewServeMux()
	handle(mux, "/api/v1/users", a.list)
	handle(mux, "/api/v1/users/{id}", a.get)
	mux.HandleFunc("/", notFound)
	return mux
}

// NewFastAPI returns the catalogue ("fastapi") handler over d's movies and series:
//
//	GET /api/v1/movies/        filter new (boolean), paging as in NewAuth
//	GET /api/v1/movies/<id>/   a movie
//	GET /api/v1/series/<id>/   a series
//
// Trailing slashes are optional; errors are as in NewAuth.
func NewFastAPI(d *Data) http.Handler {
	d = orEmpty(d)
	movies, series := index(d.Movies), index(d.Series)
	mux := http.NewServeMux()
	handle(mux, "/api/v1/movies", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := onlyParams(q, "new", "page_number", "page_size"); err != nil {
			badRequest(w, err)
			return
		}
		p, err := parsePaging(q)
		if err != nil {
			badRequest(w, err)
			return
		}
		wantNew, filterNew, err := boolParam(q, "new")
		if err != nil {
			badRequest(w, err)
			return
		}
		var matched []map[string]any
		for _, m := range d.Movies {
			isNew, _ := m["new"].(bool)
			if !filterNew || isNew == wantNew {
				matched = append(matched, m)
			}
		}
		writeJSON(w, pageOf(matched, p))
	})
	handle(mux, "/api/v1/movies/{id}", getObject("movie", movies))
	handle(mux, "/api/v1/series/{id}", getObject("series", series))
	mux.HandleFunc("/", notFound)
	return mux
}

// NewActivity returns the activity API ("activity_api") handler over d's reviews:
//
//	GET /api/v1/reviews/<id>   a review: id, author_id, movie, text
//
// A trailing slash is optional; errors are as in NewAuth.
func NewActivity(d *Data) http.Handler {
	d = orEmpty(d)
	reviews := make(map[string]Review, len(d.Reviews))
	for _, r := range d.Reviews {
		reviews[r.ID] = r
	}
	mux := http.NewServeMux()
	handle(mux, "/api/v1/reviews/{id}", func(w http.ResponseWriter, r *http.Request) {
		review, ok := reviews[r.PathValue("id")]
		if !ok {
			notFoundDetail(w, "no review "+strconv.Quote(r.PathValue("id")))
			return
		}
		writeJSON(w, review)
	})
	mux.HandleFunc("/", notFound)
	return mux
}

type auth struct {
	users        []User         // by id
	byID         map[string]int // id -> index in users
	reviewAuthor map[string]string
}

var userParams = []string{"id", "is_active", "email_notifications", "subscribed_series", "review_id", "page_number", "page_size"}

func (a *auth) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := onlyParams(q, userParams...); err != nil {
		badRequest(w, err)
		return
	}
	p, err := parsePaging(q)
	if err != nil {
		badRequest(w, err)
		return
	}
	var keep []func(User) bool

	if values := listParam(q, "id"); values != nil {
		ids := make(map[string]bool, len(values))
		for _, v := range values {
			id, err := uuid.Parse(v)
			if err != nil {
				badRequest(w, fmt.Errorf("id: %q is not a uuid", v))
				return
			}
			ids[id.String()] = true
		}
		keep = append(keep, func(u User) bool { return ids[u.ID] })
	}
	for _, f := range []struct {
		name  string
		field func(User) bool
	}{
		{"is_active", func(u User) bool { return u.IsActive }},
		{"email_notifications", func(u User) bool { return u.EmailNotifications }},
	} {
		want, ok, err := boolParam(q, f.name)
		if err != nil {
			badRequest(w, err)
			return
		}
		if ok {
			keep = append(keep, func(u User) bool { return f.field(u) == want })
		}
	}
	if series := listParam(q, "subscribed_series"); series != nil {
		keep = append(keep, func(u User) bool {
			return slices.ContainsFunc(u.SubscribedSeries, func(s string) bool { return slices.Contains(series, s) })
		})
	}
	if reviews := listParam(q, "review_id"); reviews != nil {
		authors := make(map[string]bool, len(reviews))
		for _, id := range reviews {
			if author, ok := a.reviewAuthor[id]; ok {
				authors[author] = true
			}
		}
		keep = append(keep, func(u User) bool { return authors[u.ID] })
	}

	var matched []User
	for _, u := range a.users {
		if all(keep, u) {
			matched = append(matched, u)
		}
	}
	writeJSON(w, pageOf(matched, p))
}

func (a *auth) get(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	if id, err := uuid.Parse(raw); err == nil {
		if i, ok := a.byID[id.String()]; ok {
			writeJSON(w, a.users[i])
			return
		}
	}
	notFoundDetail(w, "no user "+strconv.Quote(raw))
}

// all reports whether every predicate keeps u.
func all(keep []func(User) bool, u User) bool {
	for _, k := range keep {
		if !k(u) {
			return false
		}
	}
	return true
}

// handle registers h for GET (and so HEAD) on pattern with and without a trailing
// slash.
func handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	mux.HandleFunc("GET "+pattern, h)
	mux.HandleFunc("GET "+pattern+"/{$}", h)
}

// getObject serves one free-form object by its "id".
func getObject(kind string, byID map[string]map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o, ok := byID[r.PathValue("id")]
		if !ok {
			notFoundDetail(w, fmt.Sprintf("no %s %q", kind, r.PathValue("id")))
			return
		}
		writeJSON(w, o)
	}
}

// index maps free-form objects by their "id".
func index(objects []map[string]any) map[string]map[string]any {
	out := make(map[string]map[string]any, len(objects))
	for _, o := range objects {
		if id, ok := o["id"].(string); ok {
			out[id] = o
		}
	}
	return out
}

func orEmpty(d *Data) *Data {
	if d == nil {
		return &Data{}
	}
	return d
}

// paging is a validated page request.
type paging struct{ number, size int }

// parsePaging reads page_number (default 1) and page_size (default 50, capped at
// MaxPageSize).
func parsePaging(q url.Values) (paging, error) {
	p := paging{number: 1, size: DefaultPageSize}
	if q.Has("page_number") {
		n, err := strconv.Atoi(q.Get("page_number"))
		if err != nil || n < 1 {
			return p, fmt.Errorf("page_number: want an integer from 1, got %q", q.Get("page_number"))
		}
		p.number = n
	}
	if q.Has("page_size") {
		n, err := strconv.Atoi(q.Get("page_size"))
		if err != nil || n < 1 {
			return p, fmt.Errorf("page_size: want an integer from 1, got %q", q.Get("page_size"))
		}
		p.size = min(n, MaxPageSize)
	}
	return p, nil
}

// pageOf cuts page p out of items.
func pageOf[T any](items []T, p paging) Page[T] {
	out := Page[T]{Items: []T{}, PageNumber: p.number, PageSize: p.size, Total: len(items)}
	skip := p.number - 1
	if skip <= len(items)/p.size { // no overflow for huge page numbers
		start := min(skip*p.size, len(items))
		out.Items = append(out.Items, items[start:min(start+p.size, len(items))]...)
	}
	return out
}

// boolParam reads an optional boolean parameter: True, true, 1, False, false, 0….
func boolParam(q url.Values, name string) (value, present bool, err error) {
	if !q.Has(name) {
		return false, false, nil
	}
	v, err := strconv.ParseBool(q.Get(name))
	if err != nil {
		return false, false, fmt.Errorf("%s: want True or False, got %q", name, q.Get(name))
	}
	return v, true, nil
}

// listParam returns the non-empty values of a repeatable, comma-separated
// parameter, or nil when it is absent.
func listParam(q url.Values, name string) []string {
	if !q.Has(name) {
		return nil
	}
	out := []string{}
	for _, v := range q[name] {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// onlyParams rejects query parameters other than known: a misspelt filter must not
// silently widen a mailing to everyone.
func onlyParams(q url.Values, known ...string) error {
	for name := range q {
		if !slices.Contains(known, name) {
			return fmt.Errorf("%s: unknown query parameter", name)
		}
	}
	return nil
}

// problem is an RFC 9457 problem detail.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
}

func badRequest(w http.ResponseWriter, err error) {
	writeProblem(w, http.StatusBadRequest, err.Error())
}

func notFound(w http.ResponseWriter, r *http.Request) {
	notFoundDetail(w, "no such resource: "+r.URL.Path)
}

func notFoundDetail(w http.ResponseWriter, detail string) {
	writeProblem(w, http.StatusNotFound, detail)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
