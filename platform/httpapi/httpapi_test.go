package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/httpapi"
)

const (
	serviceToken = "service-token-0001"
	managerToken = "manager-token-0001"
	adminToken   = "admin-token-00001"
	testTokens   = "service:" + serviceToken + ",manager:" + managerToken + ",admin:" + adminToken
	leakedSecret = "password=hunter2"
)

// syncBuffer is a log sink safe to read while a server writes to it.
type syncBuffer = testenv.SyncBuffer

type thingInput struct {
	Body struct {
		Name  string `json:"name" minLength:"1" doc:"Thing name"`
		Count int    `json:"count,omitempty"`
	}
}

type thingOutput struct {
	Body struct {
		Name string `json:"name"`
		Role string `json:"role,omitempty"`
	}
}

type idInput struct {
	ID string `path:"id"`
}

// newTestServer builds a server with the test tokens and a few operations
// that exercise every layer, and returns it with its log.
func newTestServer(t *testing.T, cfg httpapi.Config) (*httpapi.Server, *syncBuffer) {
	t.Helper()
	if cfg.Tokens == "" {
		cfg.Tokens = testTokens
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := httpapi.NewServer(cfg, logger)
	require.NoError(t, err)
	api := s.API()

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID:   "create-thing",
		Method:        http.MethodPost,
		Path:          "/things",
		DefaultStatus: http.StatusCreated,
	}, httpapi.RoleService), func(ctx context.Context, in *thingInput) (*thingOutput, error) {
		out := &thingOutput{}
		out.Body.Name = in.Body.Name
		return out, nil
	})
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "cancel-thing",
		Method:      http.MethodPost,
		Path:        "/things/{id}/cancel",
	}, httpapi.RoleManager), func(ctx context.Context, in *idInput) (*thingOutput, error) {
		out := &thingOutput{}
		out.Body.Name = in.ID
		if role, ok := httpapi.RoleFromContext(ctx); ok {
			out.Body.Role = string(role)
		}
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID:  "big-thing",
		Method:       http.MethodPost,
		Path:         "/big-things",
		MaxBodyBytes: 100 << 20, // asks for more than the server allows
	}, func(ctx context.Context, in *thingInput) (*thingOutput, error) {
		return &thingOutput{}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "hand-secured",
		Method:      http.MethodGet,
		Path:        "/hand-secured",
		Security:    []map[string][]string{{"bearer": {}}},
	}, func(ctx context.Context, _ *struct{}) (*thingOutput, error) {
		return &thingOutput{}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "public-thing",
		Method:      http.MethodGet,
		Path:        "/public",
	}, func(ctx context.Context, _ *struct{}) (*thingOutput, error) {
		out := &thingOutput{}
		if _, ok := httpapi.RoleFromContext(ctx); ok {
			out.Body.Role = "unexpected"
		}
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "fail",
		Method:      http.MethodGet,
		Path:        "/fail",
	}, func(ctx context.Context, _ *struct{}) (*thingOutput, error) {
		return nil, errors.New("query postings: dial db " + leakedSecret)
	})
	huma.Register(api, huma.Operation{
		OperationID: "fail-500",
		Method:      http.MethodGet,
		Path:        "/fail-500",
	}, func(ctx context.Context, _ *struct{}) (*thingOutput, error) {
		return nil, huma.Error500InternalServerError("db said "+leakedSecret, errors.New(leakedSecret))
	})
	huma.Register(api, huma.Operation{
		OperationID: "panic",
		Method:      http.MethodGet,
		Path:        "/panic",
	}, func(ctx context.Context, _ *struct{}) (*thingOutput, error) {
		panic("boom " + leakedSecret)
	})
	return s, logs
}

type problemBody struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

func do(t *testing.T, s *httpapi.Server, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// requireProblem asserts rec is a problem+json answer with status and
// returns it decoded.
func requireProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) problemBody {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p problemBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), rec.Body.String())
	assert.Equal(t, status, p.Status)
	assert.Equal(t, http.StatusText(status), p.Title)
	return p
}

func TestParseTokens(t *testing.T) {
	t.Parallel()
	got, err := httpapi.ParseTokens(" service:svc-token-1 , Manager:mgr:token:2,admin:adm-token-3,")
	require.NoError(t, err)
	assert.Equal(t, map[string]httpapi.Role{
		"svc-token-1": httpapi.RoleService,
		"mgr:token:2": httpapi.RoleManager,
		"adm-token-3": httpapi.RoleAdmin,
	}, got)

	empty, err := httpapi.ParseTokens("")
	require.NoError(t, err)
	assert.Empty(t, empty)

	for name, tc := range map[string]struct{ in, want string }{
		"unknown role":    {"service:svc-token-1,root:secret-token-9", `entry 2: unknown role (want service, manager or admin)`},
		"short token":     {"manager:short", "entry 1 (role manager): token shorter than 8"},
		"missing colon":   {"secret-token-9", `entry 1: malformed, want role:token`},
		"empty token":     {"admin:", "entry 1 (role admin): empty token"},
		"duplicate token": {"service:secret-token-9,admin:secret-token-9", "entry 2 (role admin): duplicate token, already in entry 1"},
		"token as role":   {"secret-token-9:admin", "entry 1: unknown role"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := httpapi.ParseTokens(tc.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "secret-token-9", "errors must not reveal tokens")
		})
	}
}

func TestRolesIncludeLesserRoles(t *testing.T) {
	t.Parallel()
	assert.True(t, httpapi.RoleAdmin.Includes(httpapi.RoleManager))
	assert.True(t, httpapi.RoleAdmin.Includes(httpapi.RoleService))
	assert.True(t, httpapi.RoleManager.Includes(httpapi.RoleService))
	assert.True(t, httpapi.RoleManager.Includes(httpapi.RoleManager))
	assert.False(t, httpapi.RoleService.Includes(httpapi.RoleManager))
	assert.False(t, httpapi.RoleManager.Includes(httpapi.RoleAdmin))
	assert.False(t, httpapi.Role("root").Includes(httpapi.RoleService))
	assert.False(t, httpapi.RoleAdmin.Includes(httpapi.Role("")))
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	_, err := httpapi.NewServer(httpapi.Config{Tokens: "boss:long-enough-token"}, logger)
	assert.ErrorContains(t, err, `parse api tokens: entry 1: unknown role`)
	_, err = httpapi.NewServer(httpapi.Config{MaxBodyBytes: -1}, logger)
	assert.ErrorContains(t, err, "negative max body bytes")
	_, err = httpapi.NewServer(httpapi.Config{}, nil)
	assert.ErrorContains(t, err, "nil logger")
}

func TestSecurePanicsOnUnknownRole(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { httpapi.Secure(huma.Operation{}, httpapi.Role("root")) })
}

func TestSecureTwiceKeepsOneRequirementAndTheLastRole(t *testing.T) {
	t.Parallel()
	op := httpapi.Secure(httpapi.Secure(huma.Operation{}, httpapi.RoleService), httpapi.RoleAdmin)
	assert.Equal(t, []map[string][]string{{"bearer": {}}}, op.Security)
	assert.Equal(t, []int{http.StatusUnauthorized, http.StatusForbidden}, op.Errors)
}

func TestOpenAPIDocumentsBearerAuth(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{Title: "Notifier", Version: "1.2.3"})

	rec := do(t, s, http.MethodGet, "/openapi.json", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var spec struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Security    []map[string][]string `json:"security"`
			Responses   map[string]any        `json:"responses"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct{ Type, Scheme string } `json:"securitySchemes"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &spec))
	assert.Equal(t, "3.1.0", spec.OpenAPI)
	assert.Equal(t, "Notifier", spec.Info.Title)
	assert.Equal(t, "1.2.3", spec.Info.Version)
	assert.Equal(t, "http", spec.Components.SecuritySchemes["bearer"].Type)
	assert.Equal(t, "bearer", spec.Components.SecuritySchemes["bearer"].Scheme)

	create := spec.Paths["/things"]["post"]
	assert.Equal(t, "create-thing", create.OperationID)
	assert.Equal(t, []map[string][]string{{"bearer": {}}}, create.Security)
	assert.Contains(t, create.Responses, "401")
	assert.Contains(t, create.Responses, "403")
	assert.Empty(t, spec.Paths["/healthz"]["get"].Security)

	docs := do(t, s, http.MethodGet, "/docs", "", "")
	assert.Equal(t, http.StatusOK, docs.Code)
	assert.Contains(t, docs.Header().Get("Content-Type"), "text/html")
}

func TestSecuredOperationsEnforceRoles(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, httpapi.Config{})
	body := `{"name":"x"}`

	for _, tc := range []struct {
		name, method, path, auth, body string
		want                           int
		wantRole                       string
	}{
		{"no token", http.MethodPost, "/things", "", body, http.StatusUnauthorized, ""},
		{"unknown token", http.MethodPost, "/things", "Bearer not-a-real-token", body, http.StatusUnauthorized, ""},
		{"other scheme", http.MethodPost, "/things", "Basic " + serviceToken, body, http.StatusUnauthorized, ""},
		{"bare token", http.MethodPost, "/things", serviceToken, body, http.StatusUnauthorized, ""},
		{"token prefix", http.MethodPost, "/things", "Bearer " + serviceToken[:10], body, http.StatusUnauthorized, ""},
		{"service may create", http.MethodPost, "/things", "Bearer " + serviceToken, body, http.StatusCreated, ""},
		{"scheme is case-insensitive", http.MethodPost, "/things", "bearer " + serviceToken, body, http.StatusCreated, ""},
		{"manager may create", http.MethodPost, "/things", "Bearer " + managerToken, body, http.StatusCreated, ""},
		{"service may not cancel", http.MethodPost, "/things/1/cancel", "Bearer " + serviceToken, "", http.StatusForbidden, ""},
		{"manager may cancel", http.MethodPost, "/things/1/cancel", "Bearer " + managerToken, "", http.StatusOK, "manager"},
		{"admin may cancel", http.MethodPost, "/things/1/cancel", "Bearer " + adminToken, "", http.StatusOK, "admin"},
		{"hand-declared security needs a token", http.MethodGet, "/hand-secured", "", "", http.StatusUnauthorized, ""},
		{"hand-declared security accepts any role", http.MethodGet, "/hand-secured", "Bearer " + serviceToken, "", http.StatusOK, ""},
		{"public needs no token", http.MethodGet, "/public", "", "", http.StatusOK, ""},
		{"health needs no token", http.MethodGet, "/healthz", "", "", http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader
			if tc.body != "" {
				r = strings.NewReader(tc.body)
			}
			req := httptest.NewRequest(tc.method, tc.path, r)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)

			switch tc.want {
			case http.StatusUnauthorized:
				p := requireProblem(t, rec, tc.want)
				assert.NotEmpty(t, p.Detail)
				assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
			case http.StatusForbidden:
				p := requireProblem(t, rec, tc.want)
				assert.Contains(t, p.Detail, "manager")
				assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
			default:
				require.Equal(t, tc.want, rec.Code, rec.Body.String())
				var out struct{ Role string }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
				assert.Equal(t, tc.wantRole, out.Role)
			}
		})
	}

	for _, token := range []string{serviceToken, managerToken, adminToken} {
		assert.NotContains(t, logs.String(), token, "tokens must never be logged")
	}
}

func TestBodyOverTheCapIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{MaxBodyBytes: 64})
	big := `{"name":"` + strings.Repeat("a", 200) + `"}`

	t.Run("declared length", func(t *testing.T) {
		rec := do(t, s, http.MethodPost, "/things", serviceToken, big)
		p := requireProblem(t, rec, http.StatusRequestEntityTooLarge)
		assert.Contains(t, p.Detail, "too large")
	})
	t.Run("chunked", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/things", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+serviceToken)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		requireProblem(t, rec, http.StatusRequestEntityTooLarge)
	})
	t.Run("an operation cannot raise the cap", func(t *testing.T) {
		rec := do(t, s, http.MethodPost, "/big-things", "", big)
		requireProblem(t, rec, http.StatusRequestEntityTooLarge)
	})
	t.Run("a body under the cap passes", func(t *testing.T) {
		rec := do(t, s, http.MethodPost, "/things", serviceToken, `{"name":"small"}`)
		assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	})
}

func TestDefaultBodyCapIsOneMebibyte(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{})
	huge := `{"name":"` + strings.Repeat("a", 1<<20) + `"}`
	requireProblem(t, do(t, s, http.MethodPost, "/big-things", "", huge), http.StatusRequestEntityTooLarge)
	almost := `{"name":"` + strings.Repeat("a", (1<<20)-100) + `"}`
	assert.Equal(t, http.StatusOK, do(t, s, http.MethodPost, "/big-things", "", almost).Code)
}

func TestBadInputIsAProblemNamingTheField(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{})

	t.Run("malformed json", func(t *testing.T) {
		p := requireProblem(t, do(t, s, http.MethodPost, "/things", serviceToken, `{"name":`), http.StatusBadRequest)
		require.NotEmpty(t, p.Errors)
		assert.Equal(t, "body", p.Errors[0].Location)
	})
	t.Run("missing body", func(t *testing.T) {
		requireProblem(t, do(t, s, http.MethodPost, "/things", serviceToken, ""), http.StatusBadRequest)
	})
	t.Run("missing required field", func(t *testing.T) {
		p := requireProblem(t, do(t, s, http.MethodPost, "/things", serviceToken, `{"count":1}`), http.StatusUnprocessableEntity)
		require.Len(t, p.Errors, 1)
		assert.Equal(t, "body.name", p.Errors[0].Location)
	})
	t.Run("unknown field", func(t *testing.T) {
		p := requireProblem(t, do(t, s, http.MethodPost, "/things", serviceToken, `{"name":"x","colour":"red"}`), http.StatusUnprocessableEntity)
		require.Len(t, p.Errors, 1)
		assert.Equal(t, "body.colour", p.Errors[0].Location)
	})
	t.Run("wrong type", func(t *testing.T) {
		p := requireProblem(t, do(t, s, http.MethodPost, "/things", serviceToken, `{"name":"x","count":"many"}`), http.StatusUnprocessableEntity)
		require.Len(t, p.Errors, 1)
		assert.Equal(t, "body.count", p.Errors[0].Location)
	})
}

func TestUnknownRoutesAndMethodsAreProblems(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, httpapi.Config{})

	p := requireProblem(t, do(t, s, http.MethodGet, "/nowhere", "", ""), http.StatusNotFound)
	assert.NotEmpty(t, p.Detail)

	rec := do(t, s, http.MethodDelete, "/healthz", "", "")
	p = requireProblem(t, rec, http.StatusMethodNotAllowed)
	assert.Contains(t, rec.Header().Get("Allow"), http.MethodGet)
	assert.Contains(t, p.Detail, "DELETE")

	// A 404 a handler chose stays the handler's.
	huma.Register(s.API(), huma.Operation{OperationID: "missing", Method: http.MethodGet, Path: "/missing/{id}"},
		func(ctx context.Context, in *idInput) (*thingOutput, error) {
			return nil, huma.Error404NotFound("posting " + in.ID + " not found")
		})
	p = requireProblem(t, do(t, s, http.MethodGet, "/missing/42", "", ""), http.StatusNotFound)
	assert.Equal(t, "posting 42 not found", p.Detail)
	assert.Contains(t, logs.String(), "operation=unmatched")
}

func TestInternalErrorsAreHiddenAndLogged(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, httpapi.Config{})

	for _, path := range []string{"/fail", "/fail-500", "/panic"} {
		t.Run(path, func(t *testing.T) {
			rec := do(t, s, http.MethodGet, path, "", "")
			p := requireProblem(t, rec, http.StatusInternalServerError)
			assert.NotEmpty(t, p.Detail)
			assert.Empty(t, p.Errors)
			assert.NotContains(t, rec.Body.String(), "hunter2")
		})
	}
	assert.Contains(t, logs.String(), "query postings: dial db "+leakedSecret, "the real error is logged")
	assert.Contains(t, logs.String(), "http handler panicked")
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{})
	rec := do(t, s, http.MethodGet, "/healthz", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"status":"ok"}`, rec.Body.String())
}

func TestReadyzNamesTheFailingCheckOnly(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, httpapi.Config{})

	rec := do(t, s, http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusOK, rec.Code, "no checks means ready")
	assert.JSONEq(t, `{"status":"ok"}`, rec.Body.String())

	s.AddReadinessCheck("broker", func(context.Context) error { return nil })
	assert.Equal(t, http.StatusOK, do(t, s, http.MethodGet, "/readyz", "", "").Code)

	s.AddReadinessCheck("database", func(context.Context) error {
		return errors.New("dial tcp 10.0.0.5:5432: " + leakedSecret)
	})
	rec = do(t, s, http.MethodGet, "/readyz", "", "")
	p := requireProblem(t, rec, http.StatusServiceUnavailable)
	assert.Contains(t, p.Detail, "database")
	assert.NotContains(t, p.Detail, "broker")
	require.Len(t, p.Errors, 1)
	assert.Equal(t, "checks.database", p.Errors[0].Location)
	assert.NotContains(t, rec.Body.String(), "hunter2")
	assert.NotContains(t, rec.Body.String(), "10.0.0.5")
	assert.Contains(t, logs.String(), "10.0.0.5", "the check's error is logged")

	s.AddReadinessCheck("database", func(context.Context) error { return nil })
	assert.Equal(t, http.StatusOK, do(t, s, http.MethodGet, "/readyz", "", "").Code, "a check is replaced by name")
}

func TestMetricsCountRequestsByOperation(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{})
	require.Equal(t, http.StatusCreated, do(t, s, http.MethodPost, "/things", serviceToken, `{"name":"m"}`).Code)
	do(t, s, http.MethodPost, "/things/123/cancel", serviceToken, "")
	do(t, s, http.MethodGet, "/nowhere/else", "", "")

	rec := do(t, s, http.MethodGet, "/metrics", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	text := rec.Body.String()
	assert.Contains(t, text, `notifier_http_requests_total{method="POST",operation="create-thing",status="201"}`)
	assert.Contains(t, text, `notifier_http_requests_total{method="POST",operation="cancel-thing",status="403"}`)
	assert.Contains(t, text, `notifier_http_requests_total{method="GET",operation="unmatched",status="404"}`)
	assert.Contains(t, text, `notifier_http_request_duration_seconds_bucket{method="POST",operation="create-thing"`)
	assert.NotContains(t, text, "/things/123", "raw paths never become labels")
}

func TestMetricsServeEachApplicationsOwnRegistryNextToTheGlobalOne(t *testing.T) {
	t.Parallel()
	own := func(value float64) *prometheus.Registry {
		reg := prometheus.NewRegistry()
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_app_things_total", Help: "Things this application did."})
		c.Add(value)
		reg.MustRegister(c)
		return reg
	}
	first, _ := newTestServer(t, httpapi.Config{Metrics: own(3)})
	second, _ := newTestServer(t, httpapi.Config{Metrics: own(5)})
	do(t, first, http.MethodGet, "/nowhere/else", "", "")

	for s, want := range map[*httpapi.Server]string{first: "test_app_things_total 3", second: "test_app_things_total 5"} {
		rec := do(t, s, http.MethodGet, "/metrics", "", "")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Body.String(), want+"\n")
		assert.Contains(t, rec.Body.String(), `notifier_http_requests_total{method="GET",operation="unmatched",status="404"}`,
			"the global registry is served too")
	}
	plain, _ := newTestServer(t, httpapi.Config{})
	assert.NotContains(t, do(t, plain, http.MethodGet, "/metrics", "", "").Body.String(), "test_app_things_total")
}

func TestAccessLogNamesTheOperationWithoutSecrets(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, httpapi.Config{})
	do(t, s, http.MethodPost, "/things?token="+managerToken, serviceToken, `{"name":"`+leakedSecret+`"}`)

	out := logs.String()
	assert.Contains(t, out, "msg=\"http request\" method=POST path=/things operation=create-thing status=201")
	assert.NotContains(t, out, serviceToken)
	assert.NotContains(t, out, managerToken)
	assert.NotContains(t, out, "hunter2", "bodies are not logged")
}

func TestServerListensAndStopsGracefully(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{Addr: "127.0.0.1:0"})
	assert.Empty(t, s.Addr())
	require.NoError(t, s.Start(t.Context()))
	assert.Error(t, s.Start(t.Context()), "a server starts once")
	addr := s.Addr()
	require.NotEmpty(t, addr)
	assert.NotEqual(t, "127.0.0.1:0", addr)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/healthz", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, string(body))

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Stop(ctx))
	require.NoError(t, s.Stop(ctx), "a second Stop does nothing")
	_, err = http.DefaultClient.Get("http://" + addr + "/healthz") //nolint:noctx // the listener is closed
	assert.Error(t, err, "the listener is closed after Stop")
}

func TestStopBeforeStartIsANoOp(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{})
	assert.NoError(t, s.Stop(t.Context()))
}

func TestStartReportsListenErrors(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{Addr: "256.0.0.1:bad"})
	assert.ErrorContains(t, s.Start(t.Context()), "start http server")
}

func TestRawRoutesGetTheCommonLayers(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{MaxBodyBytes: 16})
	s.Handle("POST /raw", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too big", http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	assert.Equal(t, http.StatusNoContent, do(t, s, http.MethodPost, "/raw", "", "small").Code)
	assert.Equal(t, http.StatusRequestEntityTooLarge, do(t, s, http.MethodPost, "/raw", "", strings.Repeat("x", 100)).Code)
}

func TestPanicAfterTheResponseBeganAbortsTheConnection(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, httpapi.Config{})
	s.Handle("GET /half", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "partial")
		_ = http.NewResponseController(w).Flush()
		panic("halfway")
	}))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/half", nil)
	require.NoError(t, err)
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Error(t, err, "a truncated body must not look complete")
	assert.Eventually(t, func() bool { return strings.Contains(logs.String(), "panic=halfway") },
		5*time.Second, 10*time.Millisecond)
}

func TestMissingNestedFieldIsNamed(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{})
	type item struct {
		Name string `json:"name"`
	}
	type in struct {
		Body struct {
			Items []item `json:"items"`
		}
	}
	huma.Register(s.API(), huma.Operation{OperationID: "nested", Method: http.MethodPost, Path: "/nested"},
		func(ctx context.Context, _ *in) (*struct{}, error) { return nil, nil })

	p := requireProblem(t, do(t, s, http.MethodPost, "/nested", "", `{"items":[{"name":"a"},{}]}`), http.StatusUnprocessableEntity)
	require.Len(t, p.Errors, 1)
	assert.Equal(t, "body.items[1].name", p.Errors[0].Location)
}

func TestAStreamEndsWhenTheServerStopsSoTheShutdownDoesNotWaitForIt(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{Addr: "127.0.0.1:0"})
	started := make(chan struct{})
	s.Handle("GET /stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		close(started)
		select {
		case <-httpapi.Stopping(r.Context()):
		case <-r.Context().Done():
		}
	}))
	assert.Nil(t, httpapi.Stopping(t.Context()), "no server, no signal")
	require.NoError(t, s.Start(t.Context()))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.Addr()+"/stream", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	<-started

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Stop(ctx), "the stream ended, so the shutdown was graceful")
}
