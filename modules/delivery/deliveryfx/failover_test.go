package deliveryfx_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/platform/config"
	platformmetrics "github.com/notifier/notifier/platform/metrics"
)

// downAddr returns a loopback address nothing listens on: connections to
// it are refused.
func downAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// twoServers configures the email channel with primary then backup, one
// worker per lane so that the story is told in order.
func twoServers(t *testing.T, primary, backup string) config.Config {
	t.Helper()
	cfg := defaults(t)
	cfg.SMTP.Name, cfg.SMTP.Addr, cfg.SMTP.TLS = "primary", primary, "none"
	cfg.SMTP.Providers = []config.SMTPServer{{Name: "backup", Addr: backup}}
	cfg.Delivery.Workers = map[string]int{delivery.LaneTransactional: 1, delivery.LaneBulk: 1}
	cfg.Delivery.Backoff, cfg.Delivery.MaxBackoff = time.Millisecond, time.Millisecond
	return cfg
}

func codes(users ...string) *delivery.DeliverBatch {
	b := &delivery.DeliverBatch{
		PostingID: "codes", Lane: delivery.LaneTransactional, Template: "email/email_confirmation.md",
		TemplateContext: map[string]any{"secret_code": "1234"},
	}
	for _, u := range users {
		b.Items = append(b.Items, delivery.Item{Channel: "email", Recipient: delivery.Recipient{UserID: u, Email: u + "@example.com"}})
	}
	return b
}

// listed returns the deliveries of a posting from the HTTP API, by user.
func listed(t *testing.T, s *system, postingID string) map[string]map[string]any {
	t.Helper()
	_, api := humatest.New(t)
	for _, r := range s.groups.Routes {
		r.RegisterRoutes(api)
	}
	resp := api.Get("/api/v1/postings/" + postingID + "/deliveries")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	var page struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &page))
	out := map[string]map[string]any{}
	for _, it := range page.Items {
		out[it["user_id"].(string)] = it
	}
	return out
}

func TestWithTheFirstSMTPServerDownTheNextSendsAndTheRecordNamesIt(t *testing.T) {
	t.Parallel()
	backup := testenv.StartSMTPSink(t)
	reg := prometheus.NewRegistry()
	s := start(t, twoServers(t, downAddr(t), backup.Addr()), fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer)))))
	ctx := waitCtx(t)

	require.NoError(t, s.commands.Send(ctx, codes("u1", "u2")))
	require.Eventually(t, func() bool { return s.outcomes.count() == 2 }, 10*time.Second, time.Millisecond)

	require.Equal(t, map[string]string{"u1/email": delivery.StatusSent, "u2/email": delivery.StatusSent}, s.outcomes.statuses())
	require.Equal(t, 2, backup.Count())
	for _, u := range []string{"u1", "u2"} {
		require.Equal(t, "backup", listed(t, s, "codes")[u]["provider"])
	}
	v, err := platformmetrics.Gather(reg)
	require.NoError(t, err)
	series := platformmetrics.Series
	require.Equal(t, 2.0, v[series("notifier_provider_sends_total", "channel", "email", "provider", "backup", "result", "sent")])
	require.Equal(t, 2.0, v[series("notifier_provider_sends_total", "channel", "email", "provider", "primary", "result", "transient")])
	require.Equal(t, 0.0, v[series("notifier_provider_circuit_state", "channel", "email", "provider", "primary")],
		"closed: two failures, five needed")
}

func TestARecipientTheFirstServerRefusesIsNotSentToTheNext(t *testing.T) {
	t.Parallel()
	primary, backup := testenv.StartSMTPSink(t), testenv.StartSMTPSink(t)
	primary.AnswerRCPT(func(int) string { return "550 5.1.1 no such user" })
	s := start(t, twoServers(t, primary.Addr(), backup.Addr()))
	ctx := waitCtx(t)

	require.NoError(t, s.commands.Send(ctx, codes("u1")))
	require.Eventually(t, func() bool { return s.outcomes.count() == 1 }, 10*time.Second, time.Millisecond)

	require.Equal(t, delivery.StatusFailed, s.outcomes.statuses()["u1/email"])
	require.Zero(t, backup.Count(), "a refusal of the recipient is final")
	row := listed(t, s, "codes")["u1"]
	require.Contains(t, row["error"], "550 5.1.1")
	require.NotContains(t, row["error"], "@", "never an address")
	require.Nil(t, row["provider"])

	_, api := humatest.New(t)
	for _, r := range s.groups.Routes {
		r.RegisterRoutes(api)
	}
	resp := api.Get("/api/v1/suppressions")
	require.Equal(t, http.StatusOK, resp.Code)
	require.Contains(t, resp.Body.String(), `"address":"u1@example.com"`, "suppressed as today")
}

func TestAFlappingServersCircuitOpensAndTheTrafficGoesToTheNext(t *testing.T) {
	t.Parallel()
	flapping, backup := testenv.StartSMTPSink(t), testenv.StartSMTPSink(t)
	flapping.AnswerRCPT(func(n int) string {
		if n%2 == 1 {
			return "451 4.3.0 try again later"
		}
		return ""
	})
	cfg := twoServers(t, flapping.Addr(), backup.Addr())
	cfg.Delivery.Breaker = config.Breaker{Failures: 1, OpenFor: time.Hour}
	reg := prometheus.NewRegistry()
	s := start(t, cfg, fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer)))))
	ctx := waitCtx(t)

	require.NoError(t, s.commands.Send(ctx, codes("u1", "u2", "u3", "u4")))
	require.Eventually(t, func() bool { return s.outcomes.count() == 4 }, 10*time.Second, time.Millisecond)

	for u, st := range s.outcomes.statuses() {
		require.Equal(t, delivery.StatusSent, st, u)
	}
	require.Zero(t, flapping.Count(), "its one failure opened the circuit: nothing more was tried on it")
	require.Equal(t, 4, backup.Count())
	v, err := platformmetrics.Gather(reg)
	require.NoError(t, err)
	series := platformmetrics.Series
	require.Equal(t, 2.0, v[series("notifier_provider_circuit_state", "channel", "email", "provider", "primary")], "open")
	require.Equal(t, 3.0, v[series("notifier_provider_sends_total", "channel", "email", "provider", "primary", "result", "skipped")])
}

func TestWithEveryServerDownTheDeliveryIsRetriedThenFails(t *testing.T) {
	t.Parallel()
	cfg := twoServers(t, downAddr(t), downAddr(t))
	cfg.Delivery.MaxAttempts = 2
	s := start(t, cfg)
	ctx := waitCtx(t)

	require.NoError(t, s.commands.Send(ctx, codes("u1")))
	require.Eventually(t, func() bool { return s.outcomes.count() == 1 }, 10*time.Second, time.Millisecond)

	require.Equal(t, delivery.StatusFailed, s.outcomes.statuses()["u1/email"])
	row := listed(t, s, "codes")["u1"]
	require.Equal(t, 2.0, row["attempts"], "retried")
	require.Contains(t, row["error"], "gave up after 2 attempts: every provider failed: primary: smtp: connect")
	require.Contains(t, row["error"], "backup: smtp: connect")
}

func TestBadProvidersStopTheStart(t *testing.T) {
	t.Parallel()
	cfg := twoServers(t, "127.0.0.1:1", "127.0.0.1:2")
	cfg.Delivery.Breaker = config.Breaker{}
	require.ErrorContains(t, startErr(t, cfg), "delivery: new breaker email/primary: 0 failures, at least 1 needed")
}

// gateway is an httptest SMS gateway answering with status and body, and
// counting the requests it got.
func gateway(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(gw.Close)
	return gw, &n
}

func twoGateways(t *testing.T, primary, backup string) config.Config {
	t.Helper()
	cfg := defaults(t)
	cfg.SMS.Name, cfg.SMS.URL = "main", primary
	cfg.SMS.Providers = []config.SMSGateway{{Name: "backup", URL: backup}}
	cfg.Delivery.Workers = map[string]int{delivery.LaneTransactional: 1, delivery.LaneBulk: 1}
	return cfg
}

func smsCode(user string) *delivery.DeliverBatch {
	return &delivery.DeliverBatch{
		PostingID: "sms-codes", Lane: delivery.LaneTransactional, Template: "sms/phone_confirmation.md",
		TemplateContext: map[string]any{"secret_code": "9876"},
		Items:           []delivery.Item{{Channel: "sms", Recipient: delivery.Recipient{UserID: user, Phone: "+79001234567"}}},
	}
}

func TestAnSMSTheFirstGatewayFailsGoesThroughTheNext(t *testing.T) {
	t.Parallel()
	primary, tried := gateway(t, http.StatusServiceUnavailable, "")
	backup, got := gateway(t, http.StatusOK, "{}")
	s := start(t, twoGateways(t, primary.URL, backup.URL))
	ctx := waitCtx(t)

	require.NoError(t, s.commands.Send(ctx, smsCode("u1")))
	require.Eventually(t, func() bool { return s.outcomes.count() == 1 }, 10*time.Second, time.Millisecond)

	require.Equal(t, delivery.StatusSent, s.outcomes.statuses()["u1/sms"])
	require.Equal(t, int32(1), tried.Load())
	require.Equal(t, int32(1), got.Load())
	require.Equal(t, "backup", listed(t, s, "sms-codes")["u1"]["provider"])
}

func TestANumberTheFirstGatewayCallsInvalidIsNotSentToTheNext(t *testing.T) {
	t.Parallel()
	primary, _ := gateway(t, http.StatusUnprocessableEntity, `{"code":"invalid_number"}`)
	backup, got := gateway(t, http.StatusOK, "{}")
	s := start(t, twoGateways(t, primary.URL, backup.URL))
	ctx := waitCtx(t)

	require.NoError(t, s.commands.Send(ctx, smsCode("u1")))
	require.Eventually(t, func() bool { return s.outcomes.count() == 1 }, 10*time.Second, time.Millisecond)

	require.Equal(t, delivery.StatusFailed, s.outcomes.statuses()["u1/sms"])
	require.Zero(t, got.Load())
	require.Equal(t, "main: sms gateway: status 422: invalid_number", listed(t, s, "sms-codes")["u1"]["error"])
}

func TestTheBulkWorkersShareTheBackupServersConnections(t *testing.T) {
	t.Parallel()
	backup := testenv.StartSMTPSink(t)
	cfg := twoServers(t, downAddr(t), backup.Addr())
	cfg.Delivery.Workers = map[string]int{delivery.LaneTransactional: 1, delivery.LaneBulk: 6}
	cfg.Delivery.Connections = map[string]int{delivery.LaneTransactional: 1, delivery.LaneBulk: 2}
	s := start(t, cfg)
	ctx := waitCtx(t)

	batch := &delivery.DeliverBatch{
		PostingID: "mailing", Lane: delivery.LaneBulk, Template: "email/new_movies.md",
		TemplateContext: map[string]any{"movies": []any{map[string]any{"title": "Брат"}}},
	}
	for i := range 40 {
		user := fmt.Sprintf("u%02d", i)
		batch.Items = append(batch.Items, delivery.Item{Channel: "email", Recipient: delivery.Recipient{UserID: user, Email: user + "@example.com"}})
	}
	require.NoError(t, s.commands.Send(ctx, batch))
	require.Eventually(t, func() bool { return s.outcomes.count() == 40 }, 10*time.Second, time.Millisecond)

	require.Equal(t, 40, backup.Count())
	require.LessOrEqual(t, backup.Connections(), 2, "six workers, two connections to each server")
}
