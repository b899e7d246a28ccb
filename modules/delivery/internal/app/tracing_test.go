package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/tracing"
)

func TestEachSendHasASpanWithItsAttemptAndResultButNoAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	spans := tracetest.NewSpanRecorder()
	tp, err := tracing.New(context.Background(), tracing.Settings{}, tracing.WithSpanProcessor(spans))
	require.NoError(t, err)
	handler := mustHandlerWithSleep(t, h, nil, app.WithTracing(tp.Tracer("test"), map[string]string{"email": "smtp.send"}))
	h.email.script = []error{errBusy, nil, app.RecipientRefused(errors.New("smtp rcpt: 550 5.1.1 <u2@example.com>"))}

	ctx, batch := tp.Tracer("test").Start(lane.With(context.Background(), lane.Bulk), "delivery.DeliverBatch.bulk")
	require.NoError(t, handler.Handle(ctx, emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"))))
	batch.End()

	var sends []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "smtp.send" {
			sends = append(sends, s)
		}
	}
	require.Len(t, sends, 3)
	want := []struct {
		attempt, result string
		status          codes.Code
	}{
		{"1", tracing.ResultTransient, codes.Error},
		{"2", tracing.ResultSent, codes.Unset},
		{"1", tracing.ResultRefused, codes.Error},
	}
	for i, s := range sends {
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		require.Equal(t, batch.SpanContext().SpanID(), s.Parent().SpanID(), "under the batch's span")
		require.Equal(t, trace.SpanKindClient, s.SpanKind())
		require.Equal(t, "p1", attrs["notifier.posting_id"])
		require.Equal(t, "bulk", attrs["notifier.lane"])
		require.Equal(t, "email", attrs["notifier.channel"])
		require.Equal(t, want[i].attempt, attrs["notifier.attempt"], "send %d", i)
		require.Equal(t, want[i].result, attrs["notifier.result"], "send %d", i)
		require.Equal(t, want[i].status, s.Status().Code, "send %d", i)
		require.NotContains(t, s.Status().Description, "@example.com")
		for _, e := range s.Events() {
			for _, a := range e.Attributes {
				require.NotContains(t, a.Value.Emit(), "@example.com")
			}
		}
		for _, v := range attrs {
			require.NotContains(t, v, "@example.com")
		}
	}
}
