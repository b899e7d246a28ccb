package notifiertest_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/jwtauth/jwtauthtest"
)

// requireProblem checks that resp is a problem+json answer with status
// that does not echo token, and returns its detail.
func requireProblem(t *testing.T, resp notifiertest.Response, status int, token string) string {
	t.Helper()
	require.Equal(t, status, resp.Status, string(resp.Body))
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.NotContains(t, string(resp.Body), token, "a problem never echoes the token")
	detail, _ := resp.Map(t)["detail"].(string)
	return detail
}

func TestAUserOptsOutWithTheirOwnTokenAndGetsNoNewMoviesEmail(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	n := notifiertest.Start(t, notifiertest.WithUserTokens(), notifiertest.WithLog(logs, "debug"))
	annas := n.UserToken(t, anna)
	path := "/api/v1/users/" + anna + "/preferences"

	got := n.Do(t, http.MethodGet, path, annas, nil)
	require.Equal(t, http.StatusOK, got.Status, string(got.Body))
	require.Equal(t, anna, got.Map(t)["user_id"])
	put := n.Do(t, http.MethodPut, path, annas, `{"types": {"new_movies": false}}`)
	require.Equal(t, http.StatusOK, put.Status, string(put.Body))
	require.Equal(t, false, n.Do(t, http.MethodGet, path, annas, nil).Map(t)["types"].(map[string]any)["new_movies"])

	n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-jwt-movies"))
	p := n.WaitForPostingsFromEvent(t, "evt-jwt-movies", 1)[0]
	require.Equal(t, "completed", p.Status)
	require.ElementsMatch(t, []string{"boris@example.com", "vera@example.com"}, recipients(n.Outbox.ByChannel("email")),
		"Анна opted out herself")
	require.NotContains(t, logs.String(), annas, "tokens are never logged")
}

func TestAUsersOwnTokenReachesNothingButItsOwnPreferences(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens())
	annas := n.UserToken(t, anna)
	posting := seed(t, "posting_email_confirmation.json", "<uuid>", anna)

	for _, tc := range []struct {
		name, method, path string
		body               any
	}{
		{"another user's preferences", http.MethodGet, "/api/v1/users/" + vera + "/preferences", nil},
		{"changing another user's preferences", http.MethodPut, "/api/v1/users/" + vera + "/preferences", `{"types": {"new_movies": false}}`},
		{"creating a posting", http.MethodPost, "/api/v1/postings", posting},
		{"listing postings", http.MethodGet, "/api/v1/postings", nil},
		{"sending an event", http.MethodPost, "/api/v1/events", `{"from_service": "auth", "event": "user_signed_up", "details": {}}`},
		{"previewing a template", http.MethodPost, "/api/v1/templates/preview", `{"template": "sms/phone_confirmation.md", "context": {}}`},
	} {
		requireProblem(t, n.Do(t, tc.method, tc.path, annas, tc.body), http.StatusForbidden, annas)
	}

	// API tokens work as before.
	require.Equal(t, http.StatusOK, n.Do(t, http.MethodGet, "/api/v1/users/"+vera+"/preferences", notifiertest.ManagerToken, nil).Status)
	require.Equal(t, http.StatusCreated, n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, posting).Status)
	require.Equal(t, http.StatusForbidden, n.Do(t, http.MethodGet, "/api/v1/users/"+vera+"/preferences", notifiertest.ServiceToken, nil).Status)
	veras := n.Do(t, http.MethodGet, "/api/v1/users/"+vera+"/preferences", notifiertest.ManagerToken, nil).Map(t)
	require.Equal(t, true, veras["types"].(map[string]any)["new_movies"], "Анна's token changed nothing of Вера's")
}

// TestOnlyOperationsMarkedOwnUserTakeAUsersToken walks the OpenAPI
// document: every secured operation answers 403 to a user's own token,
// but those marked x-notifier-own-user, which answer it for that user. A
// new operation that takes users' tokens must say so in the document.
func TestOnlyOperationsMarkedOwnUserTakeAUsersToken(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens())
	annas := n.UserToken(t, anna)
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
			OwnUser  string                `json:"x-notifier-own-user"`
		} `json:"paths"`
	}
	spec := n.Do(t, http.MethodGet, "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, spec.Status)
	require.NoError(t, json.Unmarshal(spec.Body, &doc))

	param := regexp.MustCompile(`\{([^}]+)\}`)
	var own []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if len(op.Security) == 0 {
				continue
			}
			concrete := param.ReplaceAllStringFunc(path, func(m string) string {
				if strings.Trim(m, "{}") == op.OwnUser {
					return anna
				}
				return "0f0e0d0c-0b0a-4908-8706-050403020100"
			})
			if strings.HasSuffix(path, "/stream") {
				// An event stream never ends: only its status is read.
				if op.OwnUser != "" {
					own = append(own, strings.ToUpper(method)+" "+path)
					require.Equal(t, http.StatusOK, streamStatus(t, n, concrete, annas), "%s for its own user", concrete)
					concrete = strings.Replace(concrete, anna, vera, 1)
				}
				require.Equal(t, http.StatusForbidden, streamStatus(t, n, concrete, annas), concrete)
				continue
			}
			resp := n.Do(t, strings.ToUpper(method), concrete, annas, `{}`)
			if op.OwnUser == "" {
				requireProblem(t, resp, http.StatusForbidden, annas)
				continue
			}
			own = append(own, strings.ToUpper(method)+" "+path)
			require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, resp.Status,
				"%s %s for its own user: %s", method, concrete, resp.Body)
			other := strings.Replace(concrete, anna, vera, 1)
			requireProblem(t, n.Do(t, strings.ToUpper(method), other, annas, `{}`), http.StatusForbidden, annas)
		}
	}
	require.Subset(t, own, []string{"GET /api/v1/users/{user_id}/preferences", "PUT /api/v1/users/{user_id}/preferences",
		"GET /api/v1/users/{user_id}/inbox/stream"})
}

// streamStatus opens an event stream with token and returns its status,
// without reading the stream.
func streamStatus(t *testing.T, n *notifiertest.Notifier, path, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, n.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestBadUserTokensAreRefusedThroughTheWholeService(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens())
	path := "/api/v1/users/" + anna + "/preferences"
	sign := func(edit func(jwtauthtest.Claims)) string {
		c := jwtauthtest.ValidClaims(notifiertest.UserTokenIssuer, notifiertest.UserTokenAudience, anna, time.Now())
		edit(c)
		return jwtauthtest.SignHS256(t, []byte(notifiertest.UserTokenSecret), c)
	}

	for _, tc := range []struct{ name, token, detail string }{
		{"expired", sign(func(c jwtauthtest.Claims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), "expired"},
		{"foreign issuer", sign(func(c jwtauthtest.Claims) { c["iss"] = "https://auth.elsewhere.example" }), "issuer"},
		{"meant for another service", sign(func(c jwtauthtest.Claims) { c["aud"] = "billing" }), "audience"},
		{"signed by someone else", jwtauthtest.SignHS256(t, []byte("another-secret-of-32-bytes-at-least!"),
			jwtauthtest.ValidClaims(notifiertest.UserTokenIssuer, notifiertest.UserTokenAudience, anna, time.Now())), "signature"},
		{"alg none", jwtauthtest.Unsigned(t, jwtauthtest.ValidClaims(notifiertest.UserTokenIssuer, notifiertest.UserTokenAudience, anna, time.Now())), "algorithm"},
		{"garbage", "eyJhbGciOiJIUzI1NiJ9.garbage", "well-formed"},
	} {
		detail := requireProblem(t, n.Do(t, http.MethodGet, path, tc.token, nil), http.StatusUnauthorized, tc.token)
		require.Contains(t, detail, tc.detail, tc.name)
	}
}

func TestUsersTokensOnProductionTransports(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithUserTokens())
			borises := n.UserToken(t, boris)
			path := "/api/v1/users/" + boris + "/preferences"

			put := n.Do(t, http.MethodPut, path, borises, `{"channels": {"sms": false}}`)
			require.Equal(t, http.StatusOK, put.Status, string(put.Body))
			got := n.Do(t, http.MethodGet, path, borises, nil)
			require.Equal(t, http.StatusOK, got.Status, string(got.Body))
			require.Equal(t, false, got.Map(t)["channels"].(map[string]any)["sms"])
			requireProblem(t, n.Do(t, http.MethodGet, "/api/v1/users/"+anna+"/preferences", borises, nil), http.StatusForbidden, borises)
			requireProblem(t, n.Do(t, http.MethodGet, "/api/v1/postings", borises, nil), http.StatusForbidden, borises)
		})
	}
}

func TestTheServiceStartsWhileTheJWKSIsUnreachableAndTakesItsKeysOnceServed(t *testing.T) {
	t.Parallel()
	key := jwtauthtest.NewEC(t, "2026-04")
	set := jwtauthtest.NewKeySet(t, key)
	set.Fail(http.StatusServiceUnavailable)
	n := notifiertest.Start(t, notifiertest.WithConfig(func(c *config.Config) {
		c.Auth.JWT = config.JWT{JWKSURL: set.URL, Issuer: "https://auth.test", Audience: "notifier", Leeway: 30 * time.Second}
	}))
	token := key.Sign(t, jwtauthtest.ValidClaims("https://auth.test", "notifier", anna, time.Now()))
	path := "/api/v1/users/" + anna + "/preferences"

	detail := requireProblem(t, n.Do(t, http.MethodGet, path, token, nil), http.StatusUnauthorized, token)
	require.Contains(t, detail, "not loaded yet")
	require.Equal(t, http.StatusOK, n.Do(t, http.MethodGet, path, notifiertest.ManagerToken, nil).Status, "API tokens work meanwhile")
	require.Equal(t, http.StatusOK, n.Do(t, http.MethodGet, "/api/v1/postings", notifiertest.ServiceToken, nil).Status)

	set.Serve(key) // the auth service is back
	require.Eventually(t, func() bool { return n.Do(t, http.MethodGet, path, token, nil).Status == http.StatusOK },
		20*time.Second, 50*time.Millisecond, "the key set is fetched again and the token verifies")
	put := n.Do(t, http.MethodPut, path, token, `{"types": {"reactions": false}}`)
	require.Equal(t, http.StatusOK, put.Status, string(put.Body))
}
