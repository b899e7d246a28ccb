package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
