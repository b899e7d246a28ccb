package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/metrics"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/clock"
	platformmetrics "github.com/notifier/notifier/platform/metrics"
)

var start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry, *clock.Fake) {
	t.Helper()
	reg := prometheus.NewRegistry()
	fake := clock.NewFake(start)
	m, err := metrics.New(reg, fake)
	require.NoError(t, err)
	return m, reg, fake
}

func gather(t *testing.T, reg *prometheus.Registry) platformmetrics.Values {
	t.Helper()
	v, err := platformmetrics.Gather(reg)
	require.NoError(t, err)
	return v
}

var series = platformmetrics.Series

func TestEverySeriesAnAlertLooksAtStartsAtZero(t *testing.T) {
	t.Parallel()
	_, reg, _ := newMetrics(t)
	v := gather(t, reg)

	require.Len(t, v.Named("notifier_deliveries_total"), 2*2*5, "channels × lanes × results")
	require.Len(t, v.Named("notifier_delivery_retries_total"), 2*5, "channels × classes")
	require.Len(t, v.Named("notifier_delivery_attempt_duration_seconds_count"), 2)
	require.Len(t, v.Named("notifier_deliveries_suppressed_total"), 2*2, "channels × lanes")
	require.Len(t, v.Named("notifier_suppressions_added_total"), 2*2, "channels × sources")
	require.Equal(t, platformmetrics.Values{
		`notifier_delivery_oldest_pending_age_seconds{lane="bulk"}`:          0,
		`notifier_delivery_oldest_pending_age_seconds{lane="transactional"}`: 0,
	}, v.Named("notifier_delivery_oldest_pending_age_seconds"))
	for s, value := range v {
		require.Zero(t, value, s)
	}
}

func TestOutcomesAttemptsAndRetriesAreCountedUnderBoundedLabels(t *testing.T) {
	t.Parallel()
	m, reg, _ := newMetrics(t)

	m.Reported("bulk", "email", "sent", 3)
	m.Reported("transactional", "sms", "expired", 1)
	m.Reported("bulk", "email", "sent", 0)
	m.Reported("bulk", "pigeon", "failed", 1) // a channel no sender knows
	m.Reported("bulk", "inapp", "sent", 2)
	m.Reported("bulk", "webhook", "failed", 1)
	m.Reported("urgent", "email", "weird", 1) // neither lane nor status known
	m.Attempted("email", 1500*time.Millisecond)
	m.Attempted("email", 500*time.Millisecond)
	m.Attempted("user-42@example.com", time.Second) // never a label
	m.Retried("sms", app.RetryThrottled)
	m.Retried("sms", app.RetryClass("smtp said 451 to anna@example.com"))

	v := gather(t, reg)
	require.Equal(t, 3.0, v[series("notifier_deliveries_total", "channel", "email", "lane", "bulk", "result", "sent")])
	require.Equal(t, 1.0, v[series("notifier_deliveries_total", "channel", "sms", "lane", "transactional", "result", "expired")])
	require.Equal(t, 1.0, v[series("notifier_deliveries_total", "channel", "other", "lane", "bulk", "result", "failed")])
	require.Equal(t, 2.0, v[series("notifier_deliveries_total", "channel", "inapp", "lane", "bulk", "result", "sent")], "the inbox is a channel of its own")
	require.Equal(t, 1.0, v[series("notifier_deliveries_total", "channel", "webhook", "lane", "bulk", "result", "failed")])
	require.Equal(t, 1.0, v[series("notifier_deliveries_total", "channel", "email", "lane", "other", "result", "other")])
	require.Equal(t, 2.0, v[series("notifier_delivery_attempt_duration_seconds_count", "channel", "email")])
	require.Equal(t, 2.0, v[series("notifier_delivery_attempt_duration_seconds_sum", "channel", "email")])
	require.Equal(t, 1.0, v[series("notifier_delivery_attempt_duration_seconds_count", "channel", "other")])
	require.Equal(t, 1.0, v[series("notifier_delivery_retries_total", "channel", "sms", "class", "throttled")])
	require.Equal(t, 1.0, v[series("notifier_delivery_retries_total", "channel", "sms", "class", "other")])
	for s := range v {
		require.NotContains(t, s, "@", "no address in a label")
		require.NotContains(t, s, "pigeon")
	}
}

func TestTheOldestPendingBatchOfEachLaneIsMeasuredFromWhenItWasPublished(t *testing.T) {
	t.Parallel()
	m, reg, fake := newMetrics(t)
	age := func(lane string) float64 {
		return gather(t, reg)[series("notifier_delivery_oldest_pending_age_seconds", "lane", lane)]
	}

	first := m.Pending("bulk", start.Add(-30*time.Second)) // waited 30 s in the broker
	second := m.Pending("bulk", start)
	code := m.Pending("transactional", start)
	fake.Advance(10 * time.Second)
	require.Equal(t, 40.0, age("bulk"))
	require.Equal(t, 10.0, age("transactional"))

	first()
	first() // done twice is done once
	require.Equal(t, 10.0, age("bulk"), "the next oldest")
	second()
	code()
	require.Zero(t, age("bulk"), "nothing pending")
	require.Zero(t, age("transactional"))
}

func TestMetricsAreRegisteredOncePerRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, err := metrics.New(reg, clock.System{})
	require.NoError(t, err)
	_, err = metrics.New(reg, clock.System{})
	require.Error(t, err, "a second set would be counted twice")
	_, err = metrics.New(nil, clock.System{})
	require.Error(t, err)
	_, err = metrics.New(prometheus.NewRegistry(), nil)
	require.Error(t, err)
}

func TestSuppressionsAreCountedUnderBoundedLabels(t *testing.T) {
	t.Parallel()
	m, reg, _ := newMetrics(t)

	m.Suppressed("bulk", "email", 3)
	m.Suppressed("transactional", "sms", 1)
	m.Suppressed("bulk", "email", 0)
	m.Suppressed("bulk", "pigeon", 2)
	m.SuppressionAdded("delivery", "email")
	m.SuppressionAdded("api", "sms")
	m.SuppressionAdded("api", "sms")
	m.SuppressionAdded("feed", "email") // a source nobody declared

	v := gather(t, reg)
	require.Equal(t, 3.0, v[series("notifier_deliveries_suppressed_total", "channel", "email", "lane", "bulk")])
	require.Equal(t, 1.0, v[series("notifier_deliveries_suppressed_total", "channel", "sms", "lane", "transactional")])
	require.Equal(t, 2.0, v[series("notifier_deliveries_suppressed_total", "channel", "other", "lane", "bulk")])
	require.Equal(t, 1.0, v[series("notifier_suppressions_added_total", "channel", "email", "source", "delivery")])
	require.Equal(t, 2.0, v[series("notifier_suppressions_added_total", "channel", "sms", "source", "api")])
	require.Equal(t, 1.0, v[series("notifier_suppressions_added_total", "channel", "email", "source", "other")])
}

func TestProviderSendsAndCircuitsAreMeasuredPerProvider(t *testing.T) {
	t.Parallel()
	m, reg, _ := newMetrics(t)

	m.ProviderSend("email", "primary", app.ProviderTransient)
	m.ProviderSend("email", "backup", app.ProviderSent)
	m.ProviderSend("email", "backup", app.ProviderSent)
	m.ProviderSend("sms", "main", "exploded") // a result nobody declared
	m.CircuitState("email", "primary", 2)
	m.CircuitState("email", "backup", 0)

	v := gather(t, reg)
	require.Equal(t, 1.0, v[series("notifier_provider_sends_total", "channel", "email", "provider", "primary", "result", "transient")])
	require.Equal(t, 2.0, v[series("notifier_provider_sends_total", "channel", "email", "provider", "backup", "result", "sent")])
	require.Equal(t, 1.0, v[series("notifier_provider_sends_total", "channel", "sms", "provider", "main", "result", "other")])
	require.Equal(t, 2.0, v[series("notifier_provider_circuit_state", "channel", "email", "provider", "primary")])
	require.Contains(t, v, series("notifier_provider_circuit_state", "channel", "email", "provider", "backup"))
	require.Equal(t, 0.0, v[series("notifier_provider_circuit_state", "channel", "email", "provider", "backup")])
}

func TestDigestsAreCountedPerTypeUnderBoundedLabels(t *testing.T) {
	t.Parallel()
	m, reg, _ := newMetrics(t)

	m.DigestHeld("reactions", "email", 3)
	m.DigestHeld("reactions", "email", 0)
	m.DigestHeld("reactions", "inapp", 1)
	m.DigestEnded("reactions", "email", "sent")
	m.DigestEnded("reactions", "email", app.DigestEmpty)
	m.DigestEnded("reactions", "pigeon", "lost") // neither declared

	v := gather(t, reg)
	require.Equal(t, 3.0, v[series("notifier_digest_held_total", "channel", "email", "type", "reactions")])
	require.Equal(t, 1.0, v[series("notifier_digest_held_total", "channel", "inapp", "type", "reactions")])
	require.Equal(t, 1.0, v[series("notifier_digests_total", "channel", "email", "result", "sent", "type", "reactions")])
	require.Equal(t, 1.0, v[series("notifier_digests_total", "channel", "email", "result", "empty", "type", "reactions")])
	require.Equal(t, 1.0, v[series("notifier_digests_total", "channel", "other", "result", "other", "type", "reactions")])
}
