package ports_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/httpapi"
)

// userTokens is a fake httpapi.UserTokenVerifier: each token speaks for
// one user.
type userTokens map[string]string

func (u userTokens) Verify(_ context.Context, token string) (string, error) {
	if user, ok := u[token]; ok {
		return user, nil
	}
	return "", errors.New("the token is not a well-formed JWT")
}

func TestAUsersOwnTokenReadsAndChangesOnlyItsOwnPreferences(t *testing.T) {
	t.Parallel()
	const (
		owner        = "3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"
		someone      = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
		ownersToken  = "owner.jwt.token"
		managerToken = "manager-token-0001"
		serviceToken = "service-token-0001"
	)
	srv, err := httpapi.NewServer(httpapi.Config{
		Tokens:     "manager:" + managerToken + ",service:" + serviceToken,
		UserTokens: userTokens{ownersToken: owner},
	}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	port, _ := newPort(t)
	port.RegisterRoutes(srv.API())

	call := func(method, user, token, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/api/v1/users/"+user+"/preferences", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}

	put := call(http.MethodPut, owner, ownersToken, `{"types": {"new_movies": false}}`)
	require.Equal(t, http.StatusOK, put.Code, put.Body.String())
	got := call(http.MethodGet, owner, ownersToken, "")
	require.Equal(t, http.StatusOK, got.Code, got.Body.String())
	assert.Contains(t, got.Body.String(), `"new_movies":false`)

	for _, method := range []string{http.MethodGet, http.MethodPut} {
		body := ""
		if method == http.MethodPut {
			body = `{"channels": {"email": false}}`
		}
		other := call(method, someone, ownersToken, body)
		assert.Equal(t, http.StatusForbidden, other.Code, "%s another user's: %s", method, other.Body.String())
		assert.Equal(t, "application/problem+json", other.Header().Get("Content-Type"))
		assert.NotContains(t, other.Body.String(), ownersToken)
		assert.Equal(t, http.StatusOK, call(method, someone, managerToken, body).Code, "a manager may, for anyone")
		assert.Equal(t, http.StatusForbidden, call(method, someone, serviceToken, body).Code, "a service may not")
		assert.Equal(t, http.StatusUnauthorized, call(method, owner, "forged.jwt.token", body).Code)
	}
	untouched := call(http.MethodGet, someone, managerToken, "")
	assert.Contains(t, untouched.Body.String(), `"email":false`, "only the manager's PUT changed someone's preferences")
}
