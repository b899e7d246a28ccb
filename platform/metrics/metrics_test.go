package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/metrics"
)

var queueDesc = prometheus.NewDesc("test_queue_items", "Items in the queue, by state.", []string{"state"}, nil)

func TestCachedGaugeReadsAtScrapeTimeAndReusesTheReadingForItsTTL(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	var reads atomic.Int32
	g, err := metrics.NewCachedGauge(queueDesc, func(context.Context) ([]metrics.Sample, error) {
		n := float64(reads.Add(1))
		return []metrics.Sample{{Value: n, Labels: []string{"waiting"}}, {Value: 10 * n, Labels: []string{"done"}}}, nil
	}, metrics.CachedGaugeOptions{TTL: 10 * time.Second, Clock: fake})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(g))

	require.Equal(t, metrics.Values{
		`test_queue_items{state="done"}`:    10,
		`test_queue_items{state="waiting"}`: 1,
	}, gather(t, reg))
	fake.Advance(9 * time.Second)
	require.Equal(t, 1.0, gather(t, reg)[metrics.Series("test_queue_items", "state", "waiting")])
	require.Equal(t, int32(1), reads.Load(), "a scrape within the TTL reuses the reading")

	fake.Advance(time.Second)
	require.Equal(t, metrics.Values{
		`test_queue_items{state="done"}`:    20,
		`test_queue_items{state="waiting"}`: 2,
	}, gather(t, reg))
}

func gather(t *testing.T, g prometheus.Gatherer) metrics.Values {
	t.Helper()
	v, err := metrics.Gather(g)
	require.NoError(t, err)
	return v
}

func collect(t *testing.T, c prometheus.Collector) metrics.Values {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	return gather(t, reg)
}

func TestCachedGaugeThatCannotBeReadIsLeftOutAndLogged(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	failing := atomic.Bool{}
	failing.Store(true)
	var deadline atomic.Bool
	g, err := metrics.NewCachedGauge(queueDesc, func(ctx context.Context) ([]metrics.Sample, error) {
		_, has := ctx.Deadline()
		deadline.Store(has)
		if failing.Load() {
			return nil, errors.New("database unreachable")
		}
		return []metrics.Sample{{Value: 3, Labels: []string{"waiting"}}}, nil
	}, metrics.CachedGaugeOptions{TTL: time.Second, Timeout: 50 * time.Millisecond, Clock: fake,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_other", Help: "Another gauge."})
	other.Set(7)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(g))
	require.NoError(t, reg.Register(other))

	require.Equal(t, metrics.Values{"test_other": 7}, gather(t, reg), "the scrape goes on without the gauge")
	require.True(t, deadline.Load(), "each read is bounded by the timeout")
	require.Contains(t, logs.String(), "database unreachable")

	failing.Store(false)
	require.Empty(t, gather(t, reg).Named("test_queue_items"), "the failure is not retried within the TTL")
	fake.Advance(time.Second)
	require.Equal(t, metrics.Values{`test_queue_items{state="waiting"}`: 3}, gather(t, reg).Named("test_queue_items"))
}

func TestCachedGaugeRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	query := func(context.Context) ([]metrics.Sample, error) { return nil, nil }
	_, err := metrics.NewCachedGauge(nil, query, metrics.CachedGaugeOptions{})
	require.Error(t, err)
	_, err = metrics.NewCachedGauge(queueDesc, nil, metrics.CachedGaugeOptions{})
	require.Error(t, err)
	_, err = metrics.NewCachedGauge(queueDesc, query, metrics.CachedGaugeOptions{TTL: -time.Second})
	require.Error(t, err)
}

func TestCachedGaugeDropsASampleWithTheWrongLabels(t *testing.T) {
	t.Parallel()
	g, err := metrics.NewCachedGauge(queueDesc, func(context.Context) ([]metrics.Sample, error) {
		return []metrics.Sample{{Value: 1, Labels: []string{"waiting"}}, {Value: 2}}, nil
	}, metrics.CachedGaugeOptions{})
	require.NoError(t, err)
	require.Equal(t, metrics.Values{`test_queue_items{state="waiting"}`: 1}, collect(t, g))
}

func TestValuesParseTheTextFormatAsGatherSeesIt(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."}, []string{"b", "a"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_seconds", Help: "Durations."})
	reg.MustRegister(c, h)
	c.WithLabelValues("2", "1").Add(3)
	h.Observe(0.5)
	h.Observe(1.5)

	var text bytes.Buffer
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		_, err := expfmt.MetricFamilyToText(&text, f)
		require.NoError(t, err)
	}
	parsed, err := metrics.ParseText(&text)
	require.NoError(t, err)
	want := metrics.Values{
		`test_things_total{a="1",b="2"}`: 3,
		"test_seconds_count":             2,
		"test_seconds_sum":               2,
	}
	require.Equal(t, want, parsed)
	require.Equal(t, want, gather(t, reg))
	require.Equal(t, `test_things_total{a="1",b="2"}`, metrics.Series("test_things_total", "b", "2", "a", "1"))
	_, err = metrics.ParseText(strings.NewReader("not the text format {"))
	require.Error(t, err)
}
