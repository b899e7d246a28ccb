package directory_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting/internal/adapters/directory"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/platform/upstream"
)

// answering returns a directory whose auth host answers body to every
// request, and the last requested URL.
func answering(t *testing.T, status int, body string) (*directory.Directory, *string) {
	t.Helper()
	var last string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last = r.URL.String()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	c, err := upstream.New(upstream.Config{Attempts: 1}, nil, upstream.WithHandler("auth", h))
	require.NoError(t, err)
	d, err := directory.New(c)
	require.NoError(t, err)
	return d, &last
}

func TestPageAnswersAreReadAndTheirEndDetected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		page     int
		body     string
		wantIDs  []string
		wantLast bool
	}{
		{"a full page with more to come", 1, `{"items":[{"id":"a"},{"id":"b"}],"page_number":1,"page_size":2,"total":5}`, []string{"a", "b"}, false},
		{"the page that reaches the total", 3, `{"items":[{"id":"e"}],"page_number":3,"page_size":2,"total":5}`, []string{"e"}, true},
		{"an empty page", 4, `{"items":[],"page_number":4,"page_size":2,"total":5}`, nil, true},
		{"null items", 1, `{"items":null}`, nil, true},
		{"a page without a total", 1, `{"items":[{"id":"a"}]}`, []string{"a"}, false},
		{"a user object", 1, `{"id":"u-1","email":"anna@example.com","is_active":true}`, []string{"u-1"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, _ := answering(t, http.StatusOK, tc.body)
			got, err := d.Page(context.Background(), "http://auth/api/v1/users/", tc.page, 2)
			require.NoError(t, err)
			var ids []string
			for _, u := range got.Users {
				ids = append(ids, u.ID)
			}
			require.Equal(t, tc.wantIDs, ids)
			require.Equal(t, tc.wantLast, got.Last)
		})
	}
}

func TestUsersKeepTheirContacts(t *testing.T) {
	t.Parallel()
	d, _ := answering(t, http.StatusOK, `{"items":[
		{"id":"a","email":"anna@example.com","phone":"+79001234501","username":"anna","first_name":"Анна","locale":"ru","timezone":"Europe/Moscow","is_active":true,"webhook_url":"https://hooks.example.com/anna?t=1"},
		{"id":"g","is_active":false},
		{"id":"n"}],"total":3}`)
	got, err := d.Page(context.Background(), "http://auth/api/v1/users/", 1, 500)
	require.NoError(t, err)
	require.Equal(t, []app.DirectoryUser{
		{ID: "a", Email: "anna@example.com", Phone: "+79001234501", Username: "anna", FirstName: "Анна", Locale: "ru", Timezone: "Europe/Moscow",
			WebhookURL: "https://hooks.example.com/anna?t=1"},
		{ID: "g"},
		{ID: "n"},
	}, got.Users)
}

func TestPagingParametersReplaceTheReceiversOwn(t *testing.T) {
	t.Parallel()
	d, last := answering(t, http.StatusOK, `{"items":[]}`)
	_, err := d.Page(context.Background(), "http://auth/api/v1/users/?is_active=True&page_number=1&page_size=500", 3, 250)
	require.NoError(t, err)
	require.Equal(t, "http://auth/api/v1/users/?is_active=True&page_number=3&page_size=250", *last)
}

func TestUnexpectedAnswersArePermanentFailures(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		status int
		body   string
		want   error
	}{
		"a list":         {http.StatusOK, `[{"id":"a"}]`, upstream.ErrInvalidResponse},
		"no items no id": {http.StatusOK, `{"results":[]}`, upstream.ErrInvalidResponse},
		"bad items":      {http.StatusOK, `{"items":"everyone"}`, upstream.ErrInvalidResponse},
		"not JSON":       {http.StatusOK, `<html>`, upstream.ErrInvalidResponse},
		"not found":      {http.StatusNotFound, `{}`, upstream.ErrNotFound},
	} {
		d, _ := answering(t, tc.status, tc.body)
		_, err := d.Page(context.Background(), "http://auth/api/v1/users/", 1, 500)
		require.ErrorIs(t, err, tc.want, name)
		require.False(t, upstream.IsTransient(err), name)
	}
}

func TestOverloadedDirectoryIsATransientFailure(t *testing.T) {
	t.Parallel()
	d, _ := answering(t, http.StatusServiceUnavailable, `{}`)
	_, err := d.Page(context.Background(), "http://auth/api/v1/users/", 1, 500)
	require.True(t, upstream.IsTransient(err))
}
