package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func getPage(t *testing.T, d *streamingDirectory, target string) (int, directoryPage) {
	t.Helper()
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	var p directoryPage
	if rec.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	}
	return rec.Code, p
}

func TestStreamingDirectoryServesPagesOfMadeUpUsers(t *testing.T) {
	t.Parallel()
	d := &streamingDirectory{n: 1201}

	code, p := getPage(t, d, "/api/v1/users/?is_active=True&page_number=2&page_size=500")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1201, p.Total)
	require.Len(t, p.Items, 500)
	require.Equal(t, makeUser(501), p.Items[0])
	require.Equal(t, "u501@bench.example", p.Items[0].Email)

	_, last := getPage(t, d, "/api/v1/users/?is_active=True&page_number=3&page_size=500")
	require.Len(t, last.Items, 201)
	_, beyond := getPage(t, d, "/api/v1/users/?page_number=4&page_size=500")
	require.Empty(t, beyond.Items)
	require.NotNil(t, beyond.Items, "an empty page has items: []")
	_, capped := getPage(t, d, "/api/v1/users/?page_size=5000")
	require.Len(t, capped.Items, directoryMaxPageSize)
	_, none := getPage(t, d, "/api/v1/users/?is_active=False")
	require.Zero(t, none.Total)
}

func TestStreamingDirectoryAnswersUsersByID(t *testing.T) {
	t.Parallel()
	d := &streamingDirectory{n: 100}

	_, one := getPage(t, d, "/api/v1/users/?id="+userID(42)+"&page_number=1&page_size=500")
	require.Equal(t, []directoryUser{makeUser(42)}, one.Items)
	_, two := getPage(t, d, "/api/v1/users/?id="+userID(7)+","+userID(3)+"&id="+userID(7))
	require.Equal(t, []directoryUser{makeUser(3), makeUser(7)}, two.Items)
	_, unknown := getPage(t, d, "/api/v1/users/?id="+userID(101))
	require.Empty(t, unknown.Items, "an id outside the directory matches nobody, not everybody")

	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/users/"+userID(5)+"/", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, mustJSON(t, makeUser(5)), rec.Body.String())
}

func TestStreamingDirectoryRefusesWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	d := &streamingDirectory{n: 10}
	for target, want := range map[string]int{
		"/api/v1/users/?subscribed_series=s1": http.StatusBadRequest,
		"/api/v1/users/?page_number=0":        http.StatusBadRequest,
		"/api/v1/users/?is_active=maybe":      http.StatusBadRequest,
		"/api/v1/users/" + userID(11) + "/":   http.StatusNotFound,
		"/api/v1/movies/":                     http.StatusNotFound,
	} {
		code, _ := getPage(t, d, target)
		require.Equal(t, want, code, target)
	}
}

func TestUserIDsAreCanonicalUUIDsThatGiveTheirNumberBack(t *testing.T) {
	t.Parallel()
	for _, i := range []int{1, 42, 1_000_000, 999_999_999_999} {
		id := userID(i)
		parsed, err := uuid.Parse(id)
		require.NoError(t, err)
		require.Equal(t, id, parsed.String())
		require.Equal(t, i, userNumber(id))
	}
	require.Zero(t, userNumber(uuid.NewString()))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}
