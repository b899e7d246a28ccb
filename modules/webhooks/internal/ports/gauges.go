package ports

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/platform/metrics"
)

// PendingDesc and EndpointsDesc describe the module's gauges.
var (
	PendingDesc = prometheus.NewDesc("notifier_webhook_messages_pending",
		"Webhook messages waiting to be sent (or retried), counted in the store at scrape time (the same on every instance).",
		nil, nil)
	EndpointsDesc = prometheus.NewDesc("notifier_webhook_endpoints",
		"Webhook endpoints, by state (enabled, disabled), counted in the store at scrape time.",
		[]string{"state"}, nil)
)

// NewGauges returns the collectors of notifier_webhook_messages_pending
// and notifier_webhook_endpoints{state}, read from store when /metrics is
// scraped, at most once per opts.TTL.
func NewGauges(store app.Store, opts metrics.CachedGaugeOptions) ([]prometheus.Collector, error) {
	if store == nil {
		return nil, errors.New("new webhook gauges: store is required")
	}
	pending, err := metrics.NewCachedGauge(PendingDesc, func(ctx context.Context) ([]metrics.Sample, error) {
		n, err := store.CountMessages(ctx)
		if err != nil {
			return nil, err
		}
		return []metrics.Sample{{Value: float64(n)}}, nil
	}, opts)
	if err != nil {
		return nil, err
	}
	endpoints, err := metrics.NewCachedGauge(EndpointsDesc, func(ctx context.Context) ([]metrics.Sample, error) {
		all, err := store.ListEndpoints(ctx)
		if err != nil {
			return nil, err
		}
		var enabled, disabled float64
		for _, e := range all {
			if e.Enabled() {
				enabled++
			} else {
				disabled++
			}
		}
		return []metrics.Sample{{Value: enabled, Labels: []string{"enabled"}}, {Value: disabled, Labels: []string{"disabled"}}}, nil
	}, opts)
	if err != nil {
		return nil, err
	}
	return []prometheus.Collector{pending, endpoints}, nil
}
