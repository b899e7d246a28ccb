package smsgateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/smsgateway"
)

// The gateway gets the send's trace context when there is one (its spans
// join the delivery's trace), and none otherwise.
func TestTheGatewayGetsTheSendsTraceContext(t *testing.T) {
	t.Parallel()
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	s, err := smsgateway.New(smsgateway.Config{URL: srv.URL})
	require.NoError(t, err)

	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "sms.send")
	require.NoError(t, s.Send(ctx, code))
	span.End()
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	require.Equal(t, want, <-got)

	require.NoError(t, s.Send(context.Background(), code))
	require.Empty(t, <-got, "untraced: nothing sent")
}
