// Package metrics holds Notifier's Prometheus helpers: the registry of one
// application, and gauges that are read from a store when /metrics is
// scraped rather than kept up to date in memory, so that several instances
// sharing one database all report the same, true value.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notifier/notifier/platform/clock"
)

// NewRegistry returns the registry of one application. Everything an
// application's modules measure goes there, not to Prometheus' global
// registry, so that several applications in one process (tests) each count
// their own; the HTTP server serves it next to the global one.
func NewRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// Defaults of CachedGaugeOptions.
const (
	DefaultTTL     = 10 * time.Second
	DefaultTimeout = 2 * time.Second
)

// Sample is one value of a gauge; Labels are its label values, in the order
// of the gauge's variable labels.
type Sample struct {
	Value  float64
	Labels []string
}

// Query reads a gauge's current samples.
type Query func(ctx context.Context) ([]Sample, error)

// CachedGaugeOptions tune NewCachedGauge; zero fields take the defaults.
type CachedGaugeOptions struct {
	// TTL is how long a reading (or a failure) is reused before the query
	// runs again: scrapes in between cost nothing. Default DefaultTTL.
	TTL time.Duration
	// Timeout bounds one run of the query. Default DefaultTimeout.
	Timeout time.Duration
	// Clock tells when a reading is stale; nil means the system clock.
	Clock clock.Clock
	// Logger reports failed queries; nil logs nothing.
	Logger *slog.Logger
}

// CachedGauge is a prometheus.Collector of one gauge whose samples a Query
// reads at scrape time, at most once per TTL, each read bounded by a
// timeout. A failed read is logged and the gauge is left out of the scrapes
// until the next read, after TTL: a stale value is never shown for a
// current one, and the rest of the scrape is not failed with it (alert on
// the gauge being absent).
type CachedGauge struct {
	desc  *prometheus.Desc
	query Query
	opts  CachedGaugeOptions

	mu      sync.Mutex
	read    time.Time // when samples (or a failure) were read; zero: never
	samples []Sample
	failed  bool
}

// NewCachedGauge returns the gauge desc read by query. It fails when desc or
// query is nil or an option is negative.
func NewCachedGauge(desc *prometheus.Desc, query Query, opts CachedGaugeOptions) (*CachedGauge, error) {
	if desc == nil || query == nil {
		return nil, errors.New("new cached gauge: desc and query are required")
	}
	if opts.TTL < 0 || opts.Timeout < 0 {
		return nil, errors.New("new cached gauge: negative ttl or timeout")
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &CachedGauge{desc: desc, query: query, opts: opts}, nil
}

// Describe implements prometheus.Collector.
func (g *CachedGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector: the cached samples, read anew
// when older than TTL. Concurrent scrapes share one read.
func (g *CachedGauge) Collect(ch chan<- prometheus.Metric) {
	for _, s := range g.current() {
		m, err := prometheus.NewConstMetric(g.desc, prometheus.GaugeValue, s.Value, s.Labels...)
		if err != nil {
			g.opts.Logger.Warn("metric sample does not fit its gauge", "metric", g.desc.String(), "error", err)
			continue
		}
		ch <- m
	}
}

// current returns the samples to show, reading them when stale; none
// after a failed read.
func (g *CachedGauge) current() []Sample {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Clock.Now()
	if !g.read.IsZero() && now.Sub(g.read) < g.opts.TTL {
		if g.failed {
			return nil
		}
		return g.samples
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
	defer cancel()
	samples, err := g.query(ctx)
	g.read = now
	if err != nil {
		g.failed, g.samples = true, nil
		g.opts.Logger.Warn("metric could not be read; left out until the next try",
			"metric", g.desc.String(), "retry_in", g.opts.TTL, "error", err)
		return nil
	}
	g.failed, g.samples = false, samples
	return samples
}
