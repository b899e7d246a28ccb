package notifiertest_test

import (
	"bytes"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/tracing"
)

// The spans of a welcome email, from the request to the send: the intake's
// two handlers (bulk and transactional) both see the event, and each hop
// after it runs on the transactional lane.
var welcomeHops = []string{
	"POST /api/v1/events",
	"eventintake.ConsumeEvents",
	"eventintake.ConsumeEvents.transactional",
	"posting.CreatePosting.transactional",
	"posting.ExpandAudience.transactional",
	"preferences.FilterAudienceOnAudienceBatchResolved.transactional",
	"delivery.DeliverBatch.transactional",
	"capture.send",
	"posting.ApplyOutcomesOnDeliveryOutcomes.transactional",
}

func TestAnEventPostedOverHTTPIsOneTraceFromTheRequestToTheSentEmail(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			spans := tracetest.NewSpanRecorder()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithTracing(spans))

			body := withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-traced-"+transport)
			resp := n.Do(t, http.MethodPost, "/api/v1/events", notifiertest.ServiceToken, body)
			require.Equal(t, http.StatusAccepted, resp.Status, "%s", resp.Body)
			msgs := n.WaitForMessages(t, 1)
			require.Equal(t, "anna@example.com", msgs[0].To)
			postings := n.WaitForPostingsFromEvent(t, "evt-traced-"+transport, 1)

			root := spanNamed(t, spans, "POST /api/v1/events")
			hops := waitForTrace(t, spans, root.SpanContext().TraceID(), "posting.ApplyOutcomesOnDeliveryOutcomes.transactional")

			for _, hop := range welcomeHops {
				require.Contains(t, names(hops), hop, "every hop joins the request's trace")
			}
			requireTree(t, hops, root)
			// Nothing but the harness's own polling requests is outside it.
			for _, s := range spans.Ended() {
				if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
					require.Equal(t, trace.SpanKindServer, s.SpanKind(), "%s is in another trace", s.Name())
				}
			}

			send := only(t, hops, "capture.send")
			require.Equal(t, "delivery.DeliverBatch.transactional", parentOf(hops, send).Name(), "the send is a child of its batch's handler")
			id := postings[0].ID
			requireAttrs(t, send, map[attribute.Key]string{
				tracing.PostingIDKey: id, tracing.LaneKey: "transactional", tracing.ChannelKey: "email",
				tracing.AttemptKey: "1", tracing.ResultKey: tracing.ResultSent,
			})
			for _, name := range []string{"posting.ExpandAudience.transactional", "delivery.DeliverBatch.transactional", "posting.ApplyOutcomesOnDeliveryOutcomes.transactional"} {
				requireAttrs(t, only(t, hops, name), map[attribute.Key]string{
					tracing.PostingIDKey: id, tracing.LaneKey: "transactional", "messaging.operation.type": "process",
				})
			}
			// The directory's page: a client span under the walk's handler.
			page := only(t, hops, "GET auth")
			require.Equal(t, trace.SpanKindClient, page.SpanKind())
			require.Equal(t, "posting.ExpandAudience.transactional", parentOf(hops, page).Name(), "the directory call is the walk's")
			requireAttrs(t, page, map[attribute.Key]string{
				"server.address": "auth", "http.response.status_code": "200", tracing.AttemptKey: "1",
			})
			exchange := eventintake.Exchange
			if len(n.Config.AMQP.Exchanges) > 0 {
				exchange = n.Config.AMQP.Exchanges[0]
			}
			requireAttrs(t, only(t, hops, "eventintake.ConsumeEvents"), map[attribute.Key]string{
				"messaging.destination.name": exchange, tracing.LaneKey: "bulk",
			})
			requireAttrs(t, root, map[attribute.Key]string{
				"http.route": "/api/v1/events", "http.response.status_code": "202", tracing.OperationKey: "send-event",
			})
			requireNoPersonalData(t, spans.Ended(), "anna@example.com", "user@mail.com", "+79001234501")
		})
	}
}

func TestAPhoneCodeIsTracedToItsSMSWithoutTheNumber(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	n := notifiertest.Start(t, notifiertest.WithTracing(spans))

	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		seed(t, "posting_phone_confirmation.json", "<uuid>", anna))
	require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
	id := resp.Map(t)["id"].(string)
	n.WaitForMessages(t, 1)

	root := spanNamed(t, spans, "POST /api/v1/postings")
	requireAttrs(t, root, map[attribute.Key]string{tracing.PostingIDKey: id})
	hops := waitForTrace(t, spans, root.SpanContext().TraceID(), "posting.ApplyOutcomesOnDeliveryOutcomes.transactional")
	requireTree(t, hops, root)
	requireAttrs(t, only(t, hops, "capture.send"), map[attribute.Key]string{
		tracing.PostingIDKey: id, tracing.LaneKey: "transactional", tracing.ChannelKey: "sms", tracing.ResultKey: tracing.ResultSent,
	})
	requireNoPersonalData(t, spans.Ended(), "+79001234501", "anna@example.com")
}

func TestAnEventFromTheExchangeJoinsItsPublishersTraceOrStartsOne(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	n := notifiertest.Start(t, notifiertest.WithTracing(spans))

	// A publisher that traces sends its traceparent as an AMQP header
	// (metadata); one that does not sends none.
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traced := message.NewMessage("m-traced", []byte(withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-remote")))
	traced.Metadata.Set("traceparent", traceparent)
	n.PublishEventMessage(t, traced)
	n.WaitForMessages(t, 1)
	n.PublishEventMessage(t, message.NewMessage("m-plain", []byte(withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", boris), "evt-plain"))))
	n.WaitForMessages(t, 2)

	remote, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	joined := waitForTrace(t, spans, remote, "posting.ApplyOutcomesOnDeliveryOutcomes.transactional")
	for _, hop := range welcomeHops[1:] {
		require.Contains(t, names(joined), hop)
	}
	for _, s := range joined {
		if strings.HasPrefix(s.Name(), "eventintake.ConsumeEvents") {
			require.Equal(t, "00f067aa0ba902b7", s.Parent().SpanID().String(), "the intake's span is a child of the publisher's")
			require.True(t, s.Parent().IsRemote())
		}
	}

	// The plain event starts a trace of its own at the intake.
	var plain []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		plain = nil
		for _, s := range spans.Ended() {
			if strings.HasPrefix(s.Name(), "eventintake.ConsumeEvents") && s.SpanContext().TraceID() != remote {
				plain = append(plain, s)
			}
		}
		return len(plain) == 2
	}, 10*time.Second, 5*time.Millisecond)
	for _, s := range plain {
		require.False(t, s.Parent().IsValid(), "%s: a root span", s.Name())
	}
}

func TestLogLinesCarryTheTraceIDOfTheirRequestOrMessage(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	var logs testenv.SyncBuffer
	n := notifiertest.Start(t, notifiertest.WithTracing(spans), notifiertest.WithLog(&logs, "info"))

	body := withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-logged")
	resp := n.Do(t, http.MethodPost, "/api/v1/events", notifiertest.ServiceToken, body)
	require.Equal(t, http.StatusAccepted, resp.Status)
	n.WaitForMessages(t, 1)
	n.WaitForPostingsFromEvent(t, "evt-logged", 1)
	root := spanNamed(t, spans, "POST /api/v1/events")
	traceID := root.SpanContext().TraceID().String()
	waitForTrace(t, spans, root.SpanContext().TraceID(), "posting.ApplyOutcomesOnDeliveryOutcomes.transactional")

	lines := map[string]string{}
	for line := range strings.Lines(logs.String()) {
		for _, msg := range []string{`msg="http request"`, `msg="event handled"`, `msg="posting created"`, `msg="message captured"`} {
			if strings.Contains(line, msg) && strings.Contains(line, "trace_id="+traceID) {
				lines[msg] = line
			}
		}
	}
	require.Len(t, lines, 4, "the access log, the intake, the posting and the send each log with the trace's id:\n%s", logs.String())
	require.Regexp(t, `span_id=[0-9a-f]{16}`, lines[`msg="message captured"`])
}

// spanNamed returns the first ended span named name, waiting for it.
func spanNamed(t *testing.T, spans *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range spans.Ended() {
			if s.Name() == name {
				found = s
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "no span %s", name)
	return found
}

// waitForTrace waits until the trace has ended a span named last and every
// span it started has ended, and returns its spans.
func waitForTrace(t *testing.T, spans *tracetest.SpanRecorder, id trace.TraceID, last string) []sdktrace.ReadOnlySpan {
	t.Helper()
	var ended []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		ended = ended[:0]
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID() == id {
				ended = append(ended, s)
			}
		}
		started := 0
		for _, s := range spans.Started() {
			if s.SpanContext().TraceID() == id {
				started++
			}
		}
		return slices.Contains(names(ended), last) && started == len(ended)
	}, 30*time.Second, 10*time.Millisecond, "trace %s never ended %s", id, last)
	return ended
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func only(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "spans named %s", name)
	return found[0]
}

func parentOf(spans []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	for _, p := range spans {
		if p.SpanContext().SpanID() == s.Parent().SpanID() {
			return p
		}
	}
	return nil
}

// requireTree checks that the spans form one tree under root: every other
// span's parent is one of them.
func requireTree(t *testing.T, spans []sdktrace.ReadOnlySpan, root sdktrace.ReadOnlySpan) {
	t.Helper()
	require.False(t, root.Parent().IsValid(), "the request's span is the root")
	for _, s := range spans {
		if s.SpanContext().SpanID() == root.SpanContext().SpanID() {
			continue
		}
		require.NotNil(t, parentOf(spans, s), "%s: its parent %s is not in the trace", s.Name(), s.Parent().SpanID())
	}
}

func requireAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[attribute.Key]string) {
	t.Helper()
	got := map[attribute.Key]string{}
	for _, a := range s.Attributes() {
		got[a.Key] = a.Value.Emit()
	}
	for k, v := range want {
		require.Equal(t, v, got[k], "%s: attribute %s (all: %v)", s.Name(), k, got)
	}
}

// addressLike is anything that looks like an email address or a phone
// number in international form (the demo directory's).
var addressLike = regexp.MustCompile(`[^\s@]+@[^\s@]+\.[a-z]{2,}|\+\d{6,}`)

// requireNoPersonalData checks every name, attribute, event and status of
// spans (and of their resource) for an address.
func requireNoPersonalData(t *testing.T, spans []sdktrace.ReadOnlySpan, addresses ...string) {
	t.Helper()
	var all bytes.Buffer
	for _, s := range spans {
		check := func(what, v string) {
			t.Helper()
			require.NotRegexp(t, addressLike, v, "%s: %s", s.Name(), what)
			all.WriteString(v + "\n")
		}
		check("name", s.Name())
		check("status", s.Status().Description)
		kvs := append(s.Attributes(), s.Resource().Attributes()...)
		for _, e := range s.Events() {
			kvs = append(kvs, e.Attributes...)
		}
		for _, a := range kvs {
			check(string(a.Key), a.Value.Emit())
		}
	}
	for _, addr := range addresses {
		require.NotContains(t, all.String(), addr)
		require.NotContains(t, all.String(), strings.TrimPrefix(addr, "+"))
	}
}
