package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/jwtauth"
	"github.com/notifier/notifier/platform/jwtauth/jwtauthtest"
)

const (
	jwtIssuer   = "https://auth.cinema.example"
	jwtAudience = "notifier"
	jwtSecret   = "a-secret-of-at-least-32-bytes-for-hs256"
	anna        = "1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11"
	boris       = "2d6f3e5b-7c9a-4b2f-8e4d-6a8b9c0d1e22"
)

type userThingInput struct {
	UserID string `path:"user_id"`
}

type userThingOutput struct {
	Body struct {
		UserID string `json:"user_id"`
		Caller string `json:"caller"`
	}
}

// newUserTokenServer is newTestServer with users' tokens verified by
// verifier, and GET and PUT /users/{user_id}/things open to a user's own
// token (OrSelf; manager otherwise).
func newUserTokenServer(t *testing.T, verifier httpapi.UserTokenVerifier) (*httpapi.Server, *syncBuffer) {
	t.Helper()
	s, logs := newTestServer(t, httpapi.Config{UserTokens: verifier})
	handle := func(ctx context.Context, in *userThingInput) (*userThingOutput, error) {
		out := &userThingOutput{}
		out.Body.UserID = in.UserID
		if user, ok := httpapi.UserFromContext(ctx); ok {
			out.Body.Caller = "user " + user
		}
		if role, ok := httpapi.RoleFromContext(ctx); ok {
			out.Body.Caller = "role " + string(role)
		}
		return out, nil
	}
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		huma.Register(s.API(), httpapi.Secure(huma.Operation{
			OperationID: strings.ToLower(method) + "-user-things",
			Method:      method,
			Path:        "/users/{user_id}/things",
			Description: "A user's things.",
		}, httpapi.RoleManager, httpapi.OrSelf("user_id")), handle)
	}
	return s, logs
}

// hs256Verifier is a started verifier of HS256 tokens signed with jwtSecret.
func hs256Verifier(t *testing.T) *jwtauth.Verifier {
	t.Helper()
	v, err := jwtauth.New(jwtauth.Config{Secret: jwtSecret, Issuer: jwtIssuer, Audience: jwtAudience, Leeway: 30 * time.Second},
		slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	v.Start()
	t.Cleanup(v.Close)
	return v
}

// userToken is a valid HS256 token of user, edited by edit.
func userToken(t *testing.T, user string, edit func(jwtauthtest.Claims)) string {
	t.Helper()
	c := jwtauthtest.ValidClaims(jwtIssuer, jwtAudience, user, time.Now())
	if edit != nil {
		edit(c)
	}
	return jwtauthtest.SignHS256(t, []byte(jwtSecret), c)
}

func TestAUserTokenMayCallSelfOperationsForItsOwnUserOnly(t *testing.T) {
	t.Parallel()
	s, logs := newUserTokenServer(t, hs256Verifier(t))
	annas := userToken(t, anna, nil)

	for _, tc := range []struct {
		name, method, path, token string
		want                      int
		caller                    string
	}{
		{"reads its own", http.MethodGet, "/users/" + anna + "/things", annas, http.StatusOK, "user " + anna},
		{"changes its own", http.MethodPut, "/users/" + anna + "/things", annas, http.StatusOK, "user " + anna},
		{"another user's", http.MethodGet, "/users/" + boris + "/things", annas, http.StatusForbidden, ""},
		{"changes another user's", http.MethodPut, "/users/" + boris + "/things", annas, http.StatusForbidden, ""},
		{"a service operation", http.MethodPost, "/things", annas, http.StatusForbidden, ""},
		{"a manager operation", http.MethodPost, "/things/" + anna + "/cancel", annas, http.StatusForbidden, ""},
		{"hand-declared security", http.MethodGet, "/hand-secured", annas, http.StatusForbidden, ""},
		{"a manager reads anyone's", http.MethodGet, "/users/" + boris + "/things", managerToken, http.StatusOK, "role manager"},
		{"an admin changes anyone's", http.MethodPut, "/users/" + boris + "/things", adminToken, http.StatusOK, "role admin"},
		{"a service may not", http.MethodGet, "/users/" + anna + "/things", serviceToken, http.StatusForbidden, ""},
		{"a service still creates", http.MethodPost, "/things", serviceToken, http.StatusCreated, ""},
		{"a manager still cancels", http.MethodPost, "/things/1/cancel", managerToken, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.path == "/things" {
				body = `{"name":"x"}`
			}
			rec := do(t, s, tc.method, tc.path, tc.token, body)
			if tc.want == http.StatusForbidden {
				p := requireProblem(t, rec, http.StatusForbidden)
				assert.NotEmpty(t, p.Detail)
				assert.NotContains(t, rec.Body.String(), tc.token, "problems never echo the token")
				return
			}
			require.Equal(t, tc.want, rec.Code, rec.Body.String())
			if tc.caller != "" {
				var out struct{ Caller string }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
				assert.Equal(t, tc.caller, out.Caller)
			}
		})
	}

	// The details the OpenAPI examples show (TestOpenAPIDocumentsBothKindsOfToken).
	other := requireProblem(t, do(t, s, http.MethodGet, "/users/"+boris+"/things", annas, ""), http.StatusForbidden)
	assert.Equal(t, "a user's token may only be used for its own user (the user_id of the path)", other.Detail)
	elsewhere := requireProblem(t, do(t, s, http.MethodPost, "/things", annas, `{"name":"x"}`), http.StatusForbidden)
	assert.Equal(t, "a user's token may not call this operation: it requires the service role", elsewhere.Detail)
	assert.NotContains(t, logs.String(), annas, "tokens are never logged")
}

func TestBadUserTokensAreRefusedWith401(t *testing.T) {
	t.Parallel()
	s, logs := newUserTokenServer(t, hs256Verifier(t))
	valid := userToken(t, anna, nil)
	header, rest, _ := strings.Cut(valid, ".")
	payload, _, _ := strings.Cut(rest, ".")
	rsaKey := jwtauthtest.NewRSA(t, "rsa-1")

	for _, tc := range []struct{ name, token, detail string }{
		{"expired", userToken(t, anna, func(c jwtauthtest.Claims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "expired"},
		{"not yet valid", userToken(t, anna, func(c jwtauthtest.Claims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), "not valid yet"},
		{"wrong issuer", userToken(t, anna, func(c jwtauthtest.Claims) { c["iss"] = "https://evil.example" }), "issuer"},
		{"wrong audience", userToken(t, anna, func(c jwtauthtest.Claims) { c["aud"] = "billing" }), "audience"},
		{"no subject", userToken(t, anna, func(c jwtauthtest.Claims) { delete(c, "sub") }), "subject"},
		{"alg none", jwtauthtest.Unsigned(t, jwtauthtest.ValidClaims(jwtIssuer, jwtAudience, anna, time.Now())), "algorithm"},
		{"wrong signature", jwtauthtest.SignHS256(t, []byte(strings.Repeat("k", 40)), jwtauthtest.ValidClaims(jwtIssuer, jwtAudience, anna, time.Now())), "signature"},
		{"signed with an RSA public key as the secret", jwtauthtest.SignHS256(t, rsaKey.PublicPEM(t), jwtauthtest.ValidClaims(jwtIssuer, jwtAudience, anna, time.Now())), "signature"},
		{"RS256 without a JWKS", rsaKey.Sign(t, jwtauthtest.ValidClaims(jwtIssuer, jwtAudience, anna, time.Now())), "algorithm"},
		{"garbage", "not-a-token-at-all", "well-formed"},
		{"two segments", header + "." + payload, "well-formed"},
		{"a foreign API token", "someone-elses-api-token", "well-formed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, s, http.MethodGet, "/users/"+anna+"/things", tc.token, "")
			p := requireProblem(t, rec, http.StatusUnauthorized)
			assert.Contains(t, p.Detail, tc.detail)
			assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
			assert.NotContains(t, rec.Body.String(), tc.token, "problems never echo the token")
			assert.NotContains(t, logs.String(), tc.token, "tokens are never logged")
		})
	}
	rec := do(t, s, http.MethodGet, "/users/"+anna+"/things", "", "")
	p := requireProblem(t, rec, http.StatusUnauthorized)
	assert.Equal(t, "a valid bearer token is required", p.Detail)
}

func TestWithoutAVerifierUserTokensAreUnknownTokens(t *testing.T) {
	t.Parallel()
	s, _ := newUserTokenServer(t, nil)
	rec := do(t, s, http.MethodGet, "/users/"+anna+"/things", userToken(t, anna, nil), "")
	p := requireProblem(t, rec, http.StatusUnauthorized)
	assert.Equal(t, "a valid bearer token is required", p.Detail)
	assert.Equal(t, http.StatusOK, do(t, s, http.MethodGet, "/users/"+anna+"/things", managerToken, "").Code)
}

func TestWhileTheJWKSIsUnreachableUserTokensGet401AndAPITokensWork(t *testing.T) {
	t.Parallel()
	key := jwtauthtest.NewEC(t, "ec-1")
	set := jwtauthtest.NewKeySet(t, key)
	set.Fail(http.StatusBadGateway)
	v, err := jwtauth.New(jwtauth.Config{JWKSURL: set.URL, Issuer: jwtIssuer, Audience: jwtAudience, MaxRetryInterval: 10 * time.Millisecond},
		slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	v.Start()
	t.Cleanup(v.Close)
	s, _ := newUserTokenServer(t, v)
	token := key.Sign(t, jwtauthtest.ValidClaims(jwtIssuer, jwtAudience, anna, time.Now()))

	p := requireProblem(t, do(t, s, http.MethodGet, "/users/"+anna+"/things", token, ""), http.StatusUnauthorized)
	assert.Contains(t, p.Detail, "not loaded yet")
	assert.Equal(t, http.StatusOK, do(t, s, http.MethodGet, "/users/"+anna+"/things", managerToken, "").Code)
	assert.Equal(t, http.StatusCreated, do(t, s, http.MethodPost, "/things", serviceToken, `{"name":"x"}`).Code)

	set.Serve(key)
	select {
	case <-v.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("the jwks did not load")
	}
	assert.Equal(t, http.StatusOK, do(t, s, http.MethodGet, "/users/"+anna+"/things", token, "").Code)
}

func TestOpenAPIDocumentsBothKindsOfToken(t *testing.T) {
	t.Parallel()
	s, _ := newUserTokenServer(t, nil)
	type response struct {
		Description string `json:"description"`
		Content     map[string]struct {
			Examples map[string]struct {
				Summary string `json:"summary"`
				Value   struct {
					Status int    `json:"status"`
					Detail string `json:"detail"`
				} `json:"value"`
			} `json:"examples"`
		} `json:"content"`
	}
	var spec struct {
		Paths map[string]map[string]struct {
			Description string                `json:"description"`
			Security    []map[string][]string `json:"security"`
			Responses   map[string]response   `json:"responses"`
			OwnUser     string                `json:"x-notifier-own-user"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct{ Description string } `json:"securitySchemes"`
		} `json:"components"`
	}
	rec := do(t, s, http.MethodGet, "/openapi.json", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &spec))

	scheme := spec.Components.SecuritySchemes["bearer"].Description
	assert.Contains(t, scheme, "NOTIFIER_API_TOKENS")
	assert.Contains(t, scheme, "JWT")
	assert.Contains(t, scheme, "`sub` is the user id")

	get := spec.Paths["/users/{user_id}/things"]["get"]
	assert.True(t, strings.HasPrefix(get.Description, "A user's things.\n\n"), get.Description)
	assert.Contains(t, get.Description, "a user's own JWT, for that user only")
	assert.Contains(t, get.Description, "`manager` role")
	assert.Equal(t, "user_id", get.OwnUser)
	assert.Equal(t, []map[string][]string{{"bearer": {}}}, get.Security)
	expired := get.Responses["401"].Content["application/problem+json"].Examples["expired"].Value
	assert.Equal(t, 401, expired.Status)
	assert.Equal(t, "a valid bearer token is required: the token has expired", expired.Detail)
	otherUser := get.Responses["403"].Content["application/problem+json"].Examples["other_user"].Value
	assert.Equal(t, "a user's token may only be used for its own user (the user_id of the path)", otherUser.Detail)
	assert.Contains(t, get.Responses["403"].Description, "another user")

	create := spec.Paths["/things"]["post"]
	assert.NotContains(t, create.Description, "JWT", "only OrSelf operations mention user tokens")
	assert.Empty(t, create.OwnUser)
	byUser := create.Responses["403"].Content["application/problem+json"].Examples["user_token"].Value
	assert.Equal(t, "a user's token may not call this operation: it requires the service role", byUser.Detail)
}

func TestOrSelfNeedsTheParameterInThePath(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, `httpapi: Secure: OrSelf: path "/users/{id}/things" has no parameter {user_id}`, func() {
		httpapi.Secure(huma.Operation{Path: "/users/{id}/things"}, httpapi.RoleManager, httpapi.OrSelf("user_id"))
	})
	assert.Panics(t, func() {
		httpapi.Secure(huma.Operation{Path: "/users/{user_id}"}, httpapi.Role("root"), httpapi.OrSelf("user_id"))
	})

	op := httpapi.Secure(huma.Operation{Path: "/users/{user_id}", Description: "x"}, httpapi.RoleManager, httpapi.OrSelf("user_id"))
	again := httpapi.Secure(op, httpapi.RoleManager, httpapi.OrSelf("user_id"))
	assert.Equal(t, op.Description, again.Description, "the note is added once")
	assert.Equal(t, op.Metadata, again.Metadata)
}

func TestSecureWithoutOrSelfWithdrawsIt(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{UserTokens: hs256Verifier(t)})
	op := httpapi.Secure(huma.Operation{OperationID: "mine", Method: http.MethodGet, Path: "/mine/{user_id}"},
		httpapi.RoleManager, httpapi.OrSelf("user_id"))
	require.Contains(t, op.Extensions, httpapi.ExtensionOwnUser)
	withdrawn := httpapi.Secure(op, httpapi.RoleManager)
	assert.NotContains(t, withdrawn.Extensions, httpapi.ExtensionOwnUser)
	assert.Contains(t, op.Extensions, httpapi.ExtensionOwnUser, "Secure changes a copy")
	huma.Register(s.API(), withdrawn, func(context.Context, *userThingInput) (*struct{}, error) {
		return nil, nil
	})
	requireProblem(t, do(t, s, http.MethodGet, "/mine/"+anna, userToken(t, anna, nil), ""), http.StatusForbidden)
}
