package demodirectory_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/upstream"
)

// Fixed ids of configs/demo-directory.yaml.
const (
	anna    = "1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11"
	boris   = "2d6f3e5b-7c9a-4b2f-8e4d-6a8b9c0d1e22"
	vera    = "3e7a4f6c-8d0b-4c3a-9f5e-7b9c0d1e2f33"
	grigory = "4f8b5a7d-9e1c-4d4b-8a6f-8c0d1e2f3a44"
	darya   = "5a9c6b8e-0f2d-4e5c-9b7a-9d1e2f3a4b55"

	cheburashka = "6b0d7c9f-1a3e-4f6d-8c8b-0e2f3a4b5c66"
	kitchen     = "9e3a0f2c-4d6b-4c9a-9f1e-3b5c6d7e8f99"
	method      = "a04b1a3d-5e7c-4dab-8a2f-4c6d7e8f9aaa"
	review      = "b15c2b4e-6f8d-4ebc-9b3a-5d7e8f9a0bbb"
)

type userPage = demodirectory.Page[demodirectory.User]

func mustLoadDefault(t *testing.T) *demodirectory.Data {
	t.Helper()
	d, err := demodirectory.LoadDefault()
	if err != nil {
		t.Fatalf("load default: %v", err)
	}
	return d
}

// get serves target by h and decodes a 200 answer into v; it returns the status.
func get(t *testing.T, h http.Handler, target string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code == http.StatusOK && v != nil {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", target, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: decode %q: %v", target, rec.Body.String(), err)
		}
	}
	return rec.Code
}

// getProblem serves target by h, expects status and a problem+json body, and
// returns its detail.
func getProblem(t *testing.T, h http.Handler, target string, status int) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != status {
		t.Fatalf("GET %s = %d %s, want %d", target, rec.Code, rec.Body.String(), status)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("GET %s: Content-Type %q, want application/problem+json", target, ct)
	}
	var p struct {
		Status int
		Detail string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != status {
		t.Errorf("GET %s: problem %q (%v)", target, rec.Body.String(), err)
	}
	return p.Detail
}

func ids(users []demodirectory.User) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.ID
	}
	return out
}

func TestLoadDefaultHasTheDocumentedDemoData(t *testing.T) {
	t.Parallel()
	d := mustLoadDefault(t)
	if got := ids(d.Users); !slices.Equal(got, []string{anna, boris, vera, grigory, darya}) {
		t.Fatalf("users %v", got)
	}
	if d.Users[0].FirstName != "Анна" || d.Users[2].Phone != "" || d.Users[3].IsActive || d.Users[4].EmailNotifications {
		t.Errorf("Анна first, Вера without phone, Григорий inactive, Дарья opted out: got %+v", d.Users)
	}
	if len(d.Movies) != 3 || len(d.Series) != 2 || len(d.Reviews) != 1 {
		t.Errorf("%d movies, %d series, %d reviews", len(d.Movies), len(d.Series), len(d.Reviews))
	}
	if d.Reviews[0].ID != review || d.Reviews[0].AuthorID != boris {
		t.Errorf("review %+v", d.Reviews[0])
	}
}

func TestLoadRejectsInconsistentData(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"unknown field":       "users:\n  - id: " + anna + "\n    mail: x@example.com\n",
		"not a uuid":          "users:\n  - id: anna\n",
		"uppercase uuid":      "users:\n  - id: " + strings.ToUpper(anna) + "\n",
		"repeated user":       "users:\n  - id: " + anna + "\n  - id: " + anna + "\n",
		"unknown series":      "users:\n  - id: " + anna + "\n    subscribed_series: [" + kitchen + "]\n",
		"unknown author":      "reviews:\n  - id: r1\n    author_id: " + anna + "\n",
		"review without id":   "users:\n  - id: " + anna + "\nreviews:\n  - author_id: " + anna + "\n",
		"movie without id":    "movies:\n  - title: Брат\n",
		"repeated series id":  "series:\n  - id: s\n  - id: s\n",
		"not yaml at all":     "users: [",
		"users is not a list": "users: 3\n",
	} {
		if _, err := demodirectory.Load(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if d, err := demodirectory.Load(strings.NewReader("")); err != nil || len(d.Users) != 0 {
		t.Errorf("empty document: %v, %v", d, err)
	}
}

func TestGenerateUsersIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := demodirectory.GenerateUsers(1234), demodirectory.GenerateUsers(1234)
	if !slices.EqualFunc(a, b, func(x, y demodirectory.User) bool { return x.ID == y.ID && x.Email == y.Email }) {
		t.Fatal("two calls differ")
	}
	seen := make(map[string]bool)
	for _, u := range a {
		if seen[u.ID] {
			t.Fatalf("repeated id %s", u.ID)
		}
		seen[u.ID] = true
	}
	u := a[41]
	if u.Email != "user00042@example.com" || u.Username != "user00042" || u.Phone != "+79000000042" || !u.IsActive || !u.EmailNotifications {
		t.Errorf("user 42: %+v", u)
	}
	if len(demodirectory.GenerateUsers(0)) != 0 || len(demodirectory.GenerateUsers(-1)) != 0 {
		t.Error("no users for n <= 0")
	}
}

func TestPaginationWalkReturnsEveryUserExactlyOnce(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(1234)
	h := demodirectory.NewAuth(&demodirectory.Data{Users: users})

	var walked []string
	for page := 1; ; page++ {
		var p userPage
		target := "/api/v1/users/?is_active=True&page_size=500&page_number=" + strconv.Itoa(page)
		if code := get(t, h, target, &p); code != http.StatusOK {
			t.Fatalf("page %d: status %d", page, code)
		}
		if p.Total != 1234 || p.PageSize != 500 || p.PageNumber != page {
			t.Fatalf("page %d: total %d, page_size %d, page_number %d", page, p.Total, p.PageSize, p.PageNumber)
		}
		if len(p.Items) == 0 {
			if page != 4 {
				t.Fatalf("empty page %d, want the walk to end after page 3", page)
			}
			break
		}
		if want := min(500, 1234-(page-1)*500); len(p.Items) != want {
			t.Fatalf("page %d: %d items, want %d", page, len(p.Items), want)
		}
		walked = append(walked, ids(p.Items)...)
	}
	if !slices.IsSorted(walked) {
		t.Error("users are not served in id order")
	}
	want := ids(users)
	slices.Sort(want)
	if !slices.Equal(walked, want) {
		t.Fatalf("walked %d users, want each of the %d once", len(walked), len(want))
	}
}

func TestPageBeyondTheEndIsEmpty(t *testing.T) {
	t.Parallel()
	h := demodirectory.NewAuth(mustLoadDefault(t))
	for _, target := range []string{
		"/api/v1/users/?page_number=2&page_size=5",
		"/api/v1/users/?page_number=9223372036854775807&page_size=1000",
	} {
		var p userPage
		if code := get(t, h, target, &p); code != http.StatusOK || p.Items == nil || len(p.Items) != 0 || p.Total != 5 {
			t.Errorf("GET %s = %d %+v, want an empty page", target, code, p)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/users/?page_number=3", nil))
	if !strings.Contains(rec.Body.String(), `"items":[]`) {
		t.Errorf("an empty page must encode items as [], got %s", rec.Body.String())
	}
}

func TestUserFilters(t *testing.T) {
	t.Parallel()
	h := demodirectory.NewAuth(mustLoadDefault(t))
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{anna, boris, vera, grigory, darya}},
		{"is_active=True", []string{anna, boris, vera, darya}},
		{"is_active=false", []string{grigory}},
		{"is_active=True&email_notifications=True&page_number=1&page_size=500", []string{anna, boris, vera}},
		{"email_notifications=False", []string{darya}},
		{"id=" + vera, []string{vera}},
		{"id=" + strings.ToUpper(vera), []string{vera}},
		{"id=" + vera + "," + anna, []string{anna, vera}},
		{"id=" + vera + "&id=" + darya, []string{vera, darya}},
		{"id=" + grigory + "&is_active=True", []string{}},
		{"id=00000000-0000-4000-8000-000000000000", []string{}},
		{"subscribed_series=" + kitchen, []string{anna, boris}},
		{"subscribed_series=" + method + "&is_active=True", []string{boris, darya}},
		{"subscribed_series=unknown", []string{}},
		{"review_id=" + review, []string{boris}},
		{"review_id=unknown", []string{}},
		{"page_size=2", []string{anna, boris}},
		{"page_size=2&page_number=3", []string{darya}},
	} {
		var p userPage
		if code := get(t, h, "/api/v1/users/?"+tc.query, &p); code != http.StatusOK {
			t.Errorf("?%s: status %d", tc.query, code)
			continue
		}
		if got := ids(p.Items); !slices.Equal(got, tc.want) {
			t.Errorf("?%s: got %v, want %v", tc.query, got, tc.want)
		}
	}
}

func TestUserListRejectsBadQueries(t *testing.T) {
	t.Parallel()
	h := demodirectory.NewAuth(mustLoadDefault(t))
	for query, field := range map[string]string{
		"page_number=0":       "page_number",
		"page_number=x":       "page_number",
		"page_size=0":         "page_size",
		"page_size=-5":        "page_size",
		"is_active=maybe":     "is_active",
		"email_notifications": "email_notifications",
		"id=anna":             "id",
		"is_actve=True":       "is_actve",
	} {
		if detail := getProblem(t, h, "/api/v1/users/?"+query, http.StatusBadRequest); !strings.Contains(detail, field) {
			t.Errorf("?%s: detail %q does not name %s", query, detail, field)
		}
	}
}

func TestPageSizeIsCappedAt1000(t *testing.T) {
	t.Parallel()
	h := demodirectory.NewAuth(&demodirectory.Data{Users: demodirectory.GenerateUsers(1500)})
	var p userPage
	get(t, h, "/api/v1/users/?page_size=5000", &p)
	if p.PageSize != demodirectory.MaxPageSize || len(p.Items) != demodirectory.MaxPageSize || p.Total != 1500 {
		t.Errorf("page_size %d, %d items, total %d", p.PageSize, len(p.Items), p.Total)
	}
	var def userPage
	get(t, h, "/api/v1/users", &def)
	if def.PageSize != demodirectory.DefaultPageSize || len(def.Items) != demodirectory.DefaultPageSize || def.PageNumber != 1 {
		t.Errorf("defaults: page_size %d, %d items, page %d", def.PageSize, len(def.Items), def.PageNumber)
	}
}

func TestSingleUserURLAnswersTheUserObject(t *testing.T) {
	t.Parallel()
	h := demodirectory.NewAuth(mustLoadDefault(t))
	for _, target := range []string{
		"/api/v1/users/" + vera + "/",
		"/api/v1/users/" + vera,
		"/api/v1/users/" + strings.ToUpper(vera) + "/",
	} {
		var u map[string]any
		if code := get(t, h, target, &u); code != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, code)
		}
		keys := slices.Sorted(maps.Keys(u))
		if want := []string{"email", "first_name", "id", "is_active", "locale", "phone", "timezone", "username"}; !slices.Equal(keys, want) {
			t.Errorf("GET %s: fields %v, want exactly the contract's %v", target, keys, want)
		}
		if u["id"] != vera || u["first_name"] != "Вера" || u["phone"] != "" || u["is_active"] != true {
			t.Errorf("GET %s: %v", target, u)
		}
	}
}

func TestUnknownUserAndPathAreNotFound(t *testing.T) {
	t.Parallel()
	h := demodirectory.NewAuth(mustLoadDefault(t))
	getProblem(t, h, "/api/v1/users/00000000-0000-4000-8000-000000000000/", http.StatusNotFound)
	getProblem(t, h, "/api/v1/users/not-a-uuid/", http.StatusNotFound)
	getProblem(t, h, "/api/v1/users/"+anna+"/friends/", http.StatusNotFound)
	getProblem(t, h, "/api/v1/movies/", http.StatusNotFound)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/users/", nil))
	if rec.Code < 400 {
		t.Errorf("POST /api/v1/users/ = %d, want an error", rec.Code)
	}
}

func TestFastAPIServesMoviesAndSeries(t *testing.T) {
	t.Parallel()
	h := demodirectory.NewFastAPI(mustLoadDefault(t))

	var fresh demodirectory.Page[map[string]any]
	get(t, h, "/api/v1/movies/?new=True", &fresh)
	if len(fresh.Items) != 2 || fresh.Total != 2 || fresh.Items[0]["title"] != "Чебурашка" {
		t.Errorf("new movies: %+v", fresh)
	}
	for _, m := range fresh.Items {
		if m["year"] == nil || m["url"] == nil {
			t.Errorf("movie without year or url: %v", m)
		}
	}
	var all demodirectory.Page[map[string]any]
	get(t, h, "/api/v1/movies?page_size=2&page_number=2", &all)
	if len(all.Items) != 1 || all.Total != 3 || all.Items[0]["title"] != "Брат" {
		t.Errorf("second page of all movies: %+v", all)
	}

	var movie, series map[string]any
	if code := get(t, h, "/api/v1/movies/"+cheburashka+"/", &movie); code != http.StatusOK || movie["title"] != "Чебурашка" {
		t.Errorf("movie: %d %v", code, movie)
	}
	if code := get(t, h, "/api/v1/series/"+kitchen, &series); code != http.StatusOK || series["title"] != "Кухня" || series["url"] == nil {
		t.Errorf("series: %d %v", code, series)
	}
	getProblem(t, h, "/api/v1/movies/nope/", http.StatusNotFound)
	getProblem(t, h, "/api/v1/series/nope/", http.StatusNotFound)
	getProblem(t, h, "/api/v1/movies/?new=perhaps", http.StatusBadRequest)
	getProblem(t, h, "/api/v1/movies/?genre=drama", http.StatusBadRequest)
}

func TestActivityServesReviews(t *testing.T) {
	t.Parallel()
	h := demodirectory.NewActivity(mustLoadDefault(t))
	for _, target := range []string{"/api/v1/reviews/" + review, "/api/v1/reviews/" + review + "/"} {
		var r map[string]any
		if code := get(t, h, target, &r); code != http.StatusOK {
			t.Fatalf("GET %s: %d", target, code)
		}
		if r["id"] != review || r["author_id"] != boris || r["movie"] != "https://fastapi/api/v1/movies/"+cheburashka+"/" || r["text"] == "" {
			t.Errorf("GET %s: %v", target, r)
		}
	}
	getProblem(t, h, "/api/v1/reviews/nope", http.StatusNotFound)
}

func TestNilDataServesNothing(t *testing.T) {
	t.Parallel()
	var p userPage
	if code := get(t, demodirectory.NewAuth(nil), "/api/v1/users/", &p); code != http.StatusOK || len(p.Items) != 0 {
		t.Errorf("nil data: %d %+v", code, p)
	}
	getProblem(t, demodirectory.NewFastAPI(nil), "/api/v1/series/x/", http.StatusNotFound)
	getProblem(t, demodirectory.NewActivity(nil), "/api/v1/reviews/x", http.StatusNotFound)
}

// TestSeedURLsThroughTheUpstreamClient follows the seed's URLs through the real
// upstream client with the demo services in-process.
func TestSeedURLsThroughTheUpstreamClient(t *testing.T) {
	t.Parallel()
	d := mustLoadDefault(t)
	c, err := upstream.New(upstream.Config{}, nil,
		upstream.WithHandler("auth", demodirectory.NewAuth(d)),
		upstream.WithHandler("fastapi", demodirectory.NewFastAPI(d)),
		upstream.WithHandler("activity_api", demodirectory.NewActivity(d)),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	var page userPage
	if err := c.GetJSON(ctx, "http://auth/api/v1/users/?is_active=True&page_number=1&page_size=2", &page); err != nil {
		t.Fatalf("active users: %v", err)
	}
	if got := ids(page.Items); !slices.Equal(got, []string{anna, boris}) || page.Total != 4 || page.PageSize != 2 || page.PageNumber != 1 {
		t.Errorf("active users page 1: %v, %+v", got, page)
	}

	if err := c.GetJSON(ctx, "http://auth/api/v1/users/?is_active=True&email_notifications=True&page_number=1&page_size=500", &page); err != nil {
		t.Fatal(err)
	}
	if got := ids(page.Items); !slices.Equal(got, []string{anna, boris, vera}) {
		t.Errorf("new_movies receivers: %v", got)
	}

	var u demodirectory.User
	if err := c.GetJSON(ctx, "https://auth/api/v1/users/"+anna+"/", &u); err != nil || u.Email != "anna@example.com" {
		t.Errorf("user_signed_up user: %+v, %v", u, err)
	}

	var movies demodirectory.Page[map[string]any]
	if err := c.GetJSON(ctx, "http://fastapi/api/v1/movies/?new=True", &movies); err != nil || len(movies.Items) != 2 {
		t.Errorf("template context movies: %+v, %v", movies, err)
	}

	var series map[string]any
	if err := c.GetJSON(ctx, "https://fastapi/api/v1/series/"+method+"/", &series); err != nil || series["title"] != "Метод" {
		t.Errorf("new_episode series: %v, %v", series, err)
	}

	var r demodirectory.Review
	if err := c.GetJSON(ctx, "https://activity_api/api/v1/reviews/"+review, &r); err != nil || r.AuthorID != boris {
		t.Errorf("reactions_summary target: %+v, %v", r, err)
	}

	var missing demodirectory.User
	if err := c.GetJSON(ctx, "https://auth/api/v1/users/00000000-0000-4000-8000-000000000000/", &missing); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("unknown user: %v, want upstream.ErrNotFound", err)
	}
}

func TestManyRecipientsWalkThroughTheUpstreamClient(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(1234)
	c, err := upstream.New(upstream.Config{}, nil,
		upstream.WithHandler("auth", demodirectory.NewAuth(&demodirectory.Data{Users: users})))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int)
	pages := 0
	for page := 1; ; page++ {
		var p userPage
		if err := c.GetJSON(context.Background(), "http://auth/api/v1/users/?is_active=True&email_notifications=True&page_size=500&page_number="+strconv.Itoa(page), &p); err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(p.Items) == 0 {
			break
		}
		pages++
		for _, u := range p.Items {
			seen[u.ID]++
		}
	}
	if pages != 3 || len(seen) != len(users) {
		t.Fatalf("%d pages, %d distinct users, want 3 pages and %d users", pages, len(seen), len(users))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("user %s served %d times", id, n)
		}
	}
}
