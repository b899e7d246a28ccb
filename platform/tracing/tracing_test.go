package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/tracing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestTracingIsOffUnlessAnOTLPEndpointOrExporterIsSet(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vars map[string]string
		on   bool
	}{
		"nothing set":           {nil, false},
		"endpoint":              {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, true},
		"traces endpoint":       {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector.example/v1/traces"}, true},
		"exporter otlp":         {map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		"exporter none wins":    {map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, false},
		"sdk disabled wins":     {map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		"sampler alone is off":  {map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, false},
		"http/protobuf is fine": {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := tracing.FromEnv(env(tc.vars))
			require.NoError(t, err)
			require.Equal(t, tc.on, s.Export)
		})
	}
}

func TestTracingSettingsThatCannotBeUsedAreNamed(t *testing.T) {
	t.Parallel()
	_, err := tracing.FromEnv(env(map[string]string{
		"OTEL_TRACES_EXPORTER":        "zipkin",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "jaeger:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_TRACES_SAMPLER":         "sometimes",
		"OTEL_SDK_DISABLED":           "maybe",
	}))
	require.Error(t, err)
	for _, name := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_SAMPLER", "OTEL_SDK_DISABLED"} {
		require.ErrorContains(t, err, name+":")
	}
	_, err = tracing.FromEnv(env(map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}))
	require.ErrorContains(t, err, "OTEL_TRACES_SAMPLER_ARG")
}

func TestTheSamplerFollowsOTELTracesSampler(t *testing.T) {
	t.Parallel()
	for sampler, want := range map[string]bool{"always_off": false, "always_on": true, "traceidratio": true, "parentbased_always_off": false} {
		s, err := tracing.FromEnv(env(map[string]string{"OTEL_TRACES_SAMPLER": sampler}))
		require.NoError(t, err)
		spans := tracetest.NewSpanRecorder()
		tp, err := tracing.New(context.Background(), s, tracing.WithSpanProcessor(spans))
		require.NoError(t, err)
		_, span := tp.Tracer("test").Start(context.Background(), "root")
		span.End()
		require.Equal(t, want, span.IsRecording() || len(spans.Ended()) == 1, sampler)
		require.NoError(t, tp.Shutdown(context.Background()))
	}
	s, err := tracing.FromEnv(env(map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}))
	require.NoError(t, err)
	require.Contains(t, s.Sampler.Description(), "TraceIDRatioBased{0}")
}

func TestOffTracesNothingAndCostsNoProvider(t *testing.T) {
	t.Parallel()
	tp, err := tracing.New(context.Background(), tracing.Settings{})
	require.NoError(t, err)
	require.False(t, tp.Enabled())
	require.False(t, (*tracing.Provider)(nil).Enabled())
	_, span := tp.Tracer("test").Start(context.Background(), "x")
	require.False(t, span.IsRecording())
	require.NoError(t, tp.Shutdown(context.Background()))
}

// TestSpansAreExportedOverOTLPHTTPAndFlushedAtShutdown runs the exporter of
// production against a collector that only counts.
func TestSpansAreExportedOverOTLPHTTPAndFlushedAtShutdown(t *testing.T) {
	var requests atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			requests.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SERVICE_NAME", "notifier-test")

	s, err := tracing.FromEnv(func(k string) string { return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}[k] })
	require.NoError(t, err)
	require.True(t, s.Export)
	spans := tracetest.NewSpanRecorder()
	tp, err := tracing.New(context.Background(), s, tracing.WithSpanProcessor(spans))
	require.NoError(t, err)
	require.True(t, tp.Enabled())
	_, span := tp.Tracer("test").Start(context.Background(), "root")
	span.End()
	require.Zero(t, requests.Load(), "spans go in batches, not one request each")
	require.NoError(t, tp.Shutdown(context.Background()))
	require.Equal(t, int32(1), requests.Load(), "shutdown flushes the batch")

	res := spans.Ended()[0].Resource()
	name, ok := res.Set().Value("service.name")
	require.True(t, ok)
	require.Equal(t, "notifier-test", name.AsString(), "OTEL_SERVICE_NAME names the service")
}

func TestTheTraceContextRoundTripsThroughMetadata(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp, err := tracing.New(context.Background(), tracing.Settings{}, tracing.WithSpanProcessor(spans))
	require.NoError(t, err)
	ctx, span := tp.Tracer("test").Start(context.Background(), "publisher")
	defer span.End()

	md := message.Metadata{}
	tracing.Inject(ctx, md)
	require.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`, md.Get("traceparent"))
	got := trace.SpanContextFromContext(tracing.Extract(context.Background(), md))
	require.Equal(t, span.SpanContext().TraceID(), got.TraceID())
	require.Equal(t, span.SpanContext().SpanID(), got.SpanID())
	require.True(t, got.IsRemote())

	empty := message.Metadata{}
	tracing.Inject(context.Background(), empty)
	require.Empty(t, empty, "no span, nothing written")
	require.False(t, trace.SpanContextFromContext(tracing.Extract(context.Background(), message.Metadata{"traceparent": "garbage"})).IsValid())
	require.False(t, trace.SpanContextFromContext(tracing.Extract(context.Background(), nil)).IsValid())
}

func TestErrorsOnSpansAreScrubbedOfAddresses(t *testing.T) {
	t.Parallel()
	require.Equal(t, "550 5.1.1 <[redacted]>: no such user", tracing.Scrub("550 5.1.1 <anna@example.com>: no such user"))
	require.Equal(t, "invalid number [redacted]", tracing.Scrub("invalid number +7 (900) 123-45-01"))
	require.Equal(t, "gave up after 5 attempts: smtp rcpt: 451 4.3.0", tracing.Scrub("gave up after 5 attempts: smtp rcpt: 451 4.3.0"))
	require.Equal(t, "posting 1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11", tracing.Scrub("posting 1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11"))
	require.Equal(t, "posting 4b379a0f-b0e8-4176-842b-9435059716d2", tracing.Scrub("posting 4b379a0f-b0e8-4176-842b-9435059716d2"))
	require.Equal(t, "to [redacted]: 400", tracing.Scrub("to 79001234501: 400"))

	spans := tracetest.NewSpanRecorder()
	tp, err := tracing.New(context.Background(), tracing.Settings{}, tracing.WithSpanProcessor(spans))
	require.NoError(t, err)
	_, span := tp.Tracer("test").Start(context.Background(), "send")
	tracing.Fail(span, errors.New("refused anna@example.com"))
	span.End()
	s := spans.Ended()[0]
	require.Equal(t, codes.Error, s.Status().Code)
	require.Equal(t, "refused [redacted]", s.Status().Description)
	require.Equal(t, "exception", s.Events()[0].Name)
	for _, a := range s.Events()[0].Attributes {
		require.NotContains(t, a.Value.Emit(), "anna@example.com")
	}
}
