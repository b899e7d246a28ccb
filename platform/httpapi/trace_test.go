package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/tracing"
)

func tracedServer(t *testing.T) (*httpapi.Server, *tracetest.SpanRecorder) {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp, err := tracing.New(context.Background(), tracing.Settings{}, tracing.WithSpanProcessor(spans))
	require.NoError(t, err)
	s, _ := newTestServer(t, httpapi.Config{Tracing: tp})
	return s, spans
}

func attrsOf(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

func TestEachRequestHasAServerSpanNamedAfterItsRoute(t *testing.T) {
	t.Parallel()
	s, spans := tracedServer(t)

	rec := do(t, s, http.MethodPost, "/things/anna@example.com/cancel?token=secret", managerToken, "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Len(t, spans.Ended(), 1)
	span := spans.Ended()[0]
	require.Equal(t, "POST /things/{id}/cancel", span.Name())
	require.Equal(t, trace.SpanKindServer, span.SpanKind())
	attrs := attrsOf(span)
	require.Equal(t, "/things/{id}/cancel", attrs["http.route"])
	require.Equal(t, "POST", attrs["http.request.method"])
	require.Equal(t, "200", attrs["http.response.status_code"])
	require.Equal(t, "cancel-thing", attrs["notifier.operation"])
	for k, v := range attrs {
		require.NotContains(t, v, "anna@example.com", "%s: the path's values are never recorded", k)
		require.NotContains(t, v, "secret", "%s: nor the query", k)
	}
	require.False(t, span.Parent().IsValid(), "no traceparent: a new trace")
}

func TestAServerSpanContinuesTheCallersTraceparent(t *testing.T) {
	t.Parallel()
	s, spans := tracedServer(t)
	req := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(`{"name": "x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+serviceToken)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusCreated, rec.Code)

	span := spans.Ended()[0]
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", span.SpanContext().TraceID().String())
	require.Equal(t, "00f067aa0ba902b7", span.Parent().SpanID().String())
	require.True(t, span.Parent().IsRemote())
}

func TestProbesAreNotTracedAndServerErrorsAre(t *testing.T) {
	t.Parallel()
	s, spans := tracedServer(t)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		do(t, s, http.MethodGet, path, "", "")
	}
	require.Empty(t, spans.Ended(), "probes and scrapes")

	do(t, s, http.MethodGet, "/fail", "", "")
	do(t, s, http.MethodGet, "/panic", "", "")
	do(t, s, http.MethodGet, "/nowhere", "", "")
	ended := spans.Ended()
	require.Len(t, ended, 3)
	require.Equal(t, "GET /fail", ended[0].Name())
	require.Equal(t, codes.Error, ended[0].Status().Code)
	require.Equal(t, "GET /panic", ended[1].Name())
	require.Equal(t, "500", attrsOf(ended[1])["http.response.status_code"])
	require.Equal(t, "GET", ended[2].Name(), "no route: the method alone")
	require.Equal(t, codes.Unset, ended[2].Status().Code, "a 404 is the client's")
}
