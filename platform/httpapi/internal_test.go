package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadinessCheckThatHangsTimesOut(t *testing.T) {
	t.Parallel()
	s, err := NewServer(Config{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	s.readinessTimeout = 20 * time.Millisecond

	release := make(chan struct{})
	defer close(release)
	s.AddReadinessCheck("stubborn", func(context.Context) error {
		<-release // ignores its context
		return nil
	})
	s.AddReadinessCheck("panicky", func(context.Context) error { panic("oops") })

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, rec.Body.String(), "not ready: panicky, stubborn")
}

func TestTokenLookupFindsOnlyExactTokens(t *testing.T) {
	t.Parallel()
	ts := newTokenSet(map[string]Role{"abcdefgh": RoleManager})
	role, ok := ts.lookup("abcdefgh")
	assert.True(t, ok)
	assert.Equal(t, RoleManager, role)
	for _, bad := range []string{"", "abcdefg", "abcdefghi", "ABCDEFGH"} {
		_, ok := ts.lookup(bad)
		assert.False(t, ok, bad)
	}
}

func TestNewMetricsToleratesRepeatedRegistration(t *testing.T) {
	t.Parallel()
	// Tests build many servers on one registry; a second registration must
	// reuse the first collectors.
	reg := prometheus.NewRegistry()
	a, err := newMetrics(reg)
	require.NoError(t, err)
	b, err := newMetrics(reg)
	require.NoError(t, err)
	assert.Same(t, a.requests, b.requests)
	assert.Same(t, a.duration, b.duration)
}

func TestTimeoutsReachTheHTTPServer(t *testing.T) {
	t.Parallel()
	s, err := NewServer(Config{ReadTimeout: 3 * time.Second, WriteTimeout: 7 * time.Second, IdleTimeout: 11 * time.Second},
		slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, s.srv.ReadTimeout)
	assert.Equal(t, 3*time.Second, s.srv.ReadHeaderTimeout, "headers never get longer than the whole request")
	assert.Equal(t, 7*time.Second, s.srv.WriteTimeout)
	assert.Equal(t, 11*time.Second, s.srv.IdleTimeout)

	d, err := NewServer(Config{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Equal(t, DefaultReadTimeout, d.srv.ReadTimeout)
	assert.Equal(t, readHeaderTimeout, d.srv.ReadHeaderTimeout)
	assert.Equal(t, DefaultWriteTimeout, d.srv.WriteTimeout)
	assert.Equal(t, DefaultIdleTimeout, d.srv.IdleTimeout)

	_, err = NewServer(Config{IdleTimeout: -time.Second}, slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, "negative timeout")
}

func TestAPIBodiesGetTheServersReadTimeoutNotHumas(t *testing.T) {
	t.Parallel()
	s, err := NewServer(Config{ReadTimeout: 3 * time.Second}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	type body struct {
		Body struct {
			Name string `json:"name"`
		}
	}
	handle := func(context.Context, *body) (*struct{}, error) { return nil, nil }
	huma.Register(s.API(), huma.Operation{OperationID: "default", Method: http.MethodPost, Path: "/default"}, handle)
	huma.Register(s.API(), huma.Operation{OperationID: "longer", Method: http.MethodPost, Path: "/longer", BodyReadTimeout: time.Minute}, handle)
	huma.Register(s.API(), huma.Operation{OperationID: "unbounded", Method: http.MethodPost, Path: "/unbounded", BodyReadTimeout: -1}, handle)
	huma.Register(s.API(), huma.Operation{OperationID: "shorter", Method: http.MethodPost, Path: "/shorter", BodyReadTimeout: time.Second}, handle)

	paths := s.API().OpenAPI().Paths
	assert.Equal(t, 3*time.Second, paths["/default"].Post.BodyReadTimeout, "Huma's 5s would override the server's deadline")
	assert.Equal(t, 3*time.Second, paths["/longer"].Post.BodyReadTimeout)
	assert.Equal(t, 3*time.Second, paths["/unbounded"].Post.BodyReadTimeout)
	assert.Equal(t, time.Second, paths["/shorter"].Post.BodyReadTimeout, "an operation may ask for less")
}
