// Package metrics is the Prometheus side of the delivery module: it
// implements app.Metrics with the series operators page on. Every label
// value is one of a small fixed set (lanes, channels, statuses, retry
// classes, suppression sources); anything else a batch may carry is counted as "other".
package metrics

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// other is the label value of anything outside a label's known values.
const other = "other"

var (
	lanes = []string{delivery.LaneTransactional, delivery.LaneBulk}
	// channels are the channel label's values; every series of the first
	// two exists from the start.
	channels = []string{domain.ChannelEmail, domain.ChannelSMS, domain.ChannelInApp, domain.ChannelWebhook}
	results  = []string{delivery.StatusSent, delivery.StatusFailed, delivery.StatusExpired,
		delivery.StatusSkipped, delivery.StatusCancelled}
	sources = []string{domain.SourceDelivery, domain.SourceAPI}
)

// AttemptBuckets are the bounds of the attempt duration histogram, in
// seconds: from a captured message to an SMTP server at its timeout.
var AttemptBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics is the app.Metrics of the delivery module on Prometheus.
type Metrics struct {
	deliveries *prometheus.CounterVec
	attempts   *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	added      *prometheus.CounterVec
	oldest     *oldestPending
	// providerSends and circuits are per provider of a channel (the names
	// of smtp.providers and sms.providers: a few, from the configuration).
	providerSends *prometheus.CounterVec
	circuits      *prometheus.GaugeVec
	// digestsHeld and digests are per notification type configured as a
	// digest (delivery.digests: a few, from the configuration).
	digestsHeld *prometheus.CounterVec
	digests     *prometheus.CounterVec
}

var (
	_ app.Metrics         = (*Metrics)(nil)
	_ app.ProviderMetrics = (*Metrics)(nil)
	_ app.DigestMetrics   = (*Metrics)(nil)
)

// New registers the delivery metrics with reg; clk tells the age of the
// pending deliveries at scrape time. Both are required. It fails when a
// metric of the same name is registered already.
func New(reg prometheus.Registerer, clk clock.Clock) (*Metrics, error) {
	if reg == nil || clk == nil {
		return nil, errors.New("new delivery metrics: registerer and clock are required")
	}
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_deliveries_total",
			Help: "Deliveries that reached a final status and were reported, by channel, lane and result " +
				"(sent, failed, expired, skipped, cancelled).",
		}, []string{"channel", "lane", "result"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "notifier_delivery_attempt_duration_seconds",
			Help:    "Time one send took, whatever its result (waiting for a shared connection included), by channel.",
			Buckets: AttemptBuckets,
		}, []string{"channel"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_delivery_retries_total",
			Help: "Transient send failures that will be tried again after a backoff, by channel and class " +
				"(timeout, connection, server, throttled, other).",
		}, []string{"channel", "class"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_deliveries_suppressed_total",
			Help: "Deliveries skipped because their address is on the suppression list, by channel and lane " +
				"(also counted as skipped in notifier_deliveries_total).",
		}, []string{"channel", "lane"}),
		added: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_suppressions_added_total",
			Help: "Addresses put on the suppression list, by channel and source " +
				"(delivery: the channel refused the address; api: POST /api/v1/suppressions).",
		}, []string{"channel", "source"}),
		providerSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_provider_sends_total",
			Help: "Sends handed to each provider of a channel (SMTP server, SMS gateway), by channel, provider and result " +
				"(sent, transient, refused, failed; skipped: its circuit was open).",
		}, []string{"channel", "provider", "result"}),
		circuits: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "notifier_provider_circuit_state",
			Help: "State of each provider's circuit breaker, by channel and provider: 0 closed, 1 half-open (one probe), " +
				"2 open (skipped). Only for channels with several providers.",
		}, []string{"channel", "provider"}),
		digestsHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_digest_held_total",
			Help: "Deliveries held for their digest (delivery.digests), by notification type and channel.",
		}, []string{"type", "channel"}),
		digests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_digests_total",
			Help: "Digests that ended, by notification type, channel and result: the status of their message " +
				"(sent, failed, expired, skipped, cancelled), or empty when nothing was left to send.",
		}, []string{"type", "channel", "result"}),
		oldest: &oldestPending{
			clock: clk,
			desc: prometheus.NewDesc("notifier_delivery_oldest_pending_age_seconds",
				"Age of the oldest batch with deliveries pending in this instance, counted from when the batch "+
					"was published (broker wait included), by lane; 0 when none.",
				[]string{"lane"}, nil),
			batches: map[string]map[uint64]time.Time{},
		},
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.attempts, m.retries, m.suppressed, m.added, m.oldest, m.providerSends, m.circuits, m.digestsHeld, m.digests} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register delivery metrics: %w", err)
		}
	}
	// Every series an alert may look at exists from the start, at zero.
	for _, ch := range channels[:2] {
		for _, lane := range lanes {
			for _, result := range results {
				m.deliveries.WithLabelValues(ch, lane, result)
			}
		}
		for _, class := range app.RetryClasses {
			m.retries.WithLabelValues(ch, string(class))
		}
		m.attempts.WithLabelValues(ch)
		for _, lane := range lanes {
			m.suppressed.WithLabelValues(ch, lane)
		}
		for _, source := range sources {
			m.added.WithLabelValues(ch, source)
		}
	}
	return m, nil
}

// Reported implements app.Metrics.
func (m *Metrics) Reported(lane, channel, status string, n int) {
	if n <= 0 {
		return
	}
	m.deliveries.WithLabelValues(known(channel, channels), known(lane, lanes), known(status, results)).Add(float64(n))
}

// Attempted implements app.Metrics.
func (m *Metrics) Attempted(channel string, elapsed time.Duration) {
	m.attempts.WithLabelValues(known(channel, channels)).Observe(elapsed.Seconds())
}

// Retried implements app.Metrics.
func (m *Metrics) Retried(channel string, class app.RetryClass) {
	m.retries.WithLabelValues(known(channel, channels), known(string(class), classes())).Inc()
}

// Pending implements app.Metrics.
func (m *Metrics) Pending(lane string, since time.Time) func() {
	return m.oldest.add(known(lane, lanes), since)
}

// Suppressed implements app.Metrics.
func (m *Metrics) Suppressed(lane, channel string, n int) {
	if n <= 0 {
		return
	}
	m.suppressed.WithLabelValues(known(channel, channels), known(lane, lanes)).Add(float64(n))
}

// SuppressionAdded implements app.Metrics.
func (m *Metrics) SuppressionAdded(source, channel string) {
	m.added.WithLabelValues(known(channel, channels), known(source, sources)).Inc()
}

// ProviderSend implements app.ProviderMetrics.
func (m *Metrics) ProviderSend(channel, provider, result string) {
	m.providerSends.WithLabelValues(known(channel, channels), provider, known(result, providerResults)).Inc()
}

// CircuitState sets the circuit-state gauge of provider of channel (0
// closed, 1 half-open, 2 open).
func (m *Metrics) CircuitState(channel, provider string, state int) {
	m.circuits.WithLabelValues(known(channel, channels), provider).Set(float64(state))
}

// DigestHeld implements app.DigestMetrics.
func (m *Metrics) DigestHeld(typ, channel string, n int) {
	if n > 0 {
		m.digestsHeld.WithLabelValues(typ, known(channel, digestChannels)).Add(float64(n))
	}
}

// DigestEnded implements app.DigestMetrics.
func (m *Metrics) DigestEnded(typ, channel, result string) {
	m.digests.WithLabelValues(typ, known(channel, digestChannels), known(result, digestResults)).Inc()
}

var (
	digestChannels = []string{domain.ChannelEmail, domain.ChannelSMS, domain.ChannelInApp, domain.ChannelWebhook}
	digestResults  = append(append([]string(nil), results...), app.DigestEmpty)
)

var providerResults = []string{app.ProviderSent, app.ProviderTransient, app.ProviderRefused, app.ProviderFailed, app.ProviderSkipped}

func classes() []string {
	out := make([]string, len(app.RetryClasses))
	for i, c := range app.RetryClasses {
		out[i] = string(c)
	}
	return out
}

// known returns v when it is one of values, else "other".
func known(v string, values []string) string {
	for _, k := range values {
		if v == k {
			return v
		}
	}
	return other
}

// oldestPending is the gauge of the oldest batch pending per lane, in this
// process: the batches being delivered (sending, or waiting for a retry)
// from when they were published.
type oldestPending struct {
	clock clock.Clock
	desc  *prometheus.Desc

	mu      sync.Mutex
	next    uint64
	batches map[string]map[uint64]time.Time // lane → batch → published
}

func (o *oldestPending) add(lane string, since time.Time) func() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	id := o.next
	if o.batches[lane] == nil {
		o.batches[lane] = map[uint64]time.Time{}
	}
	o.batches[lane][id] = since
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			delete(o.batches[lane], id)
		})
	}
}

// Describe implements prometheus.Collector.
func (o *oldestPending) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

// Collect implements prometheus.Collector: one sample per lane (and for
// "other" while a batch of an unknown lane is pending).
func (o *oldestPending) Collect(ch chan<- prometheus.Metric) {
	now := o.clock.Now()
	o.mu.Lock()
	ages := map[string]float64{}
	for _, lane := range lanes {
		ages[lane] = 0
	}
	for lane, batches := range o.batches {
		for _, since := range batches {
			if age := now.Sub(since).Seconds(); age > ages[lane] {
				ages[lane] = age
			}
		}
	}
	o.mu.Unlock()
	for lane, age := range ages {
		ch <- prometheus.MustNewConstMetric(o.desc, prometheus.GaugeValue, age, lane)
	}
}
