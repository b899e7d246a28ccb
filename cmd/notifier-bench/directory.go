package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// streamingDirectory is the user directory ("auth") of DESIGN §6 over n
// synthetic users that it makes up from their number as each page is
// asked for, so that a million users cost no memory. User i (from 1) has
// the id 00000000-0000-4000-8000-<i in 12 digits>, the e-mail
// u<i>@bench.example and the phone +7900<i in 7 digits>; all are active
// and opted in to e-mail. (platform/demodirectory holds its users in
// memory, about 430 MB for a million, and filters all of them for each
// page, 0.6 s a page at a million: too slow and too heavy to bench with.)
//
//	GET /api/v1/users/   id (repeatable, comma-separated), is_active,
//	                     email_notifications, page_number (from 1),
//	                     page_size (default 50, at most 1000)
//	GET /api/v1/users/<id>/
type streamingDirectory struct {
	n int
}

// The paging limits of platform/demodirectory.
const (
	directoryDefaultPageSize = 50
	directoryMaxPageSize     = 1000
)

var firstNames = []string{"Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор", "Жанна", "Зоя", "Игорь", "Ксения"}

// directoryUser is a user as the directory serves it.
type directoryUser struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	Locale    string `json:"locale"`
	Timezone  string `json:"timezone"`
	IsActive  bool   `json:"is_active"`
}

// directoryPage is the answer of the list endpoint.
type directoryPage struct {
	Items      []directoryUser `json:"items"`
	PageNumber int             `json:"page_number"`
	PageSize   int             `json:"page_size"`
	Total      int             `json:"total"`
}

// userID returns the id of user i.
func userID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// userNumber returns i for the id of user i, or 0.
func userNumber(id string) int {
	const prefix = "00000000-0000-4000-8000-"
	if len(id) != len(prefix)+12 || !strings.HasPrefix(id, prefix) {
		return 0
	}
	i, err := strconv.Atoi(id[len(prefix):])
	if err != nil || i < 1 {
		return 0
	}
	return i
}

func makeUser(i int) directoryUser {
	return directoryUser{
		ID:        userID(i),
		Email:     fmt.Sprintf("u%d@bench.example", i),
		Phone:     fmt.Sprintf("+7900%07d", i%10_000_000),
		Username:  fmt.Sprintf("user%d", i),
		FirstName: firstNames[(i-1)%len(firstNames)],
		Locale:    "ru",
		Timezone:  "Europe/Moscow",
		IsActive:  true,
	}
}

func (d *streamingDirectory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		problem(w, http.StatusMethodNotAllowed, "GET only")
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api/v1/users":
		d.list(w, r.URL.Query())
	case strings.HasPrefix(path, "/api/v1/users/") && !strings.Contains(path[len("/api/v1/users/"):], "/"):
		i := userNumber(path[len("/api/v1/users/"):])
		if i < 1 || i > d.n {
			problem(w, http.StatusNotFound, "no such user")
			return
		}
		writeJSON(w, makeUser(i))
	default:
		problem(w, http.StatusNotFound, "no such resource: "+r.URL.Path)
	}
}

func (d *streamingDirectory) list(w http.ResponseWriter, q url.Values) {
	for name := range q {
		if !slices.Contains([]string{"id", "is_active", "email_notifications", "page_number", "page_size"}, name) {
			problem(w, http.StatusBadRequest, name+": unknown query parameter")
			return
		}
	}
	number, size := 1, directoryDefaultPageSize
	if q.Has("page_number") {
		n, err := strconv.Atoi(q.Get("page_number"))
		if err != nil || n < 1 {
			problem(w, http.StatusBadRequest, "page_number: want an integer from 1")
			return
		}
		number = n
	}
	if q.Has("page_size") {
		n, err := strconv.Atoi(q.Get("page_size"))
		if err != nil || n < 1 {
			problem(w, http.StatusBadRequest, "page_size: want an integer from 1")
			return
		}
		size = min(n, directoryMaxPageSize)
	}
	everyone := true
	for _, name := range []string{"is_active", "email_notifications"} {
		if q.Has(name) {
			v, err := strconv.ParseBool(q.Get(name))
			if err != nil {
				problem(w, http.StatusBadRequest, name+": want True or False")
				return
			}
			everyone = everyone && v // every user is active and opted in
		}
	}

	// The matching users, as numbers in id order (ids sort as numbers).
	var matched []int
	byID, total := q.Has("id"), 0
	switch {
	case !everyone:
	case byID:
		for _, v := range q["id"] {
			for part := range strings.SplitSeq(v, ",") {
				if i := userNumber(strings.TrimSpace(part)); i >= 1 && i <= d.n && !slices.Contains(matched, i) {
					matched = append(matched, i)
				}
			}
		}
		slices.Sort(matched)
		total = len(matched)
	default:
		total = d.n
	}

	page := directoryPage{Items: []directoryUser{}, PageNumber: number, PageSize: size, Total: total}
	if skip := number - 1; skip <= total/size { // no overflow on huge page numbers
		for k := skip * size; k < min(skip*size+size, total); k++ {
			i := k + 1
			if byID {
				i = matched[k]
			}
			page.Items = append(page.Items, makeUser(i))
		}
	}
	writeJSON(w, page)
}

// problem writes an RFC 9457 problem detail.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail,
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
