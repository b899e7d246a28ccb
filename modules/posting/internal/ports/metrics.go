package ports

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/platform/metrics"
)

// PostingsDesc describes the postings gauge.
var PostingsDesc = prometheus.NewDesc("notifier_postings",
	"Postings stored, by status, counted in the database at scrape time (the same on every instance).",
	[]string{"status"}, nil)

// NewPostingsGauge returns the collector of notifier_postings{status}: the
// postings counted by count when /metrics is scraped, at most once per
// opts.TTL, with every status present. count is required.
func NewPostingsGauge(count *app.CountPostingsHandler, opts metrics.CachedGaugeOptions) (*metrics.CachedGauge, error) {
	if count == nil {
		return nil, errors.New("new postings gauge: count handler is required")
	}
	return metrics.NewCachedGauge(PostingsDesc, func(ctx context.Context) ([]metrics.Sample, error) {
		counts, err := count.Handle(ctx)
		if err != nil {
			return nil, err
		}
		samples := make([]metrics.Sample, 0, len(counts))
		for status, n := range counts {
			samples = append(samples, metrics.Sample{Value: float64(n), Labels: []string{string(status)}})
		}
		return samples, nil
	}, opts)
}
