package logging_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/logging"
)

func TestLogLinesCarryTheTraceAndSpanOfTheirContext(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	logger := logging.New(&out, "info", "json").With("module", "delivery")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	logger.InfoContext(ctx, "message captured", "to", "anna@example.com")
	require.Contains(t, out.String(), `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`)
	require.Contains(t, out.String(), `"span_id":"00f067aa0ba902b7"`)
	require.Contains(t, out.String(), `"to":"a***@example.com"`, "still masked")
	require.Contains(t, out.String(), `"module":"delivery"`)

	out.Reset()
	logger.InfoContext(context.Background(), "no span")
	logger.Info("no context")
	require.NotContains(t, out.String(), "trace_id")
}

func TestTheTraceHandlerLeavesTheRecordItIsGivenAlone(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	h := logging.NewTraceHandler(slog.NewTextHandler(&out, nil))
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "hello", 0)
	require.NoError(t, h.Handle(trace.ContextWithSpanContext(context.Background(), sc), r))
	require.Zero(t, r.NumAttrs())
	require.Contains(t, out.String(), "trace_id=01000000000000000000000000000000")
}
