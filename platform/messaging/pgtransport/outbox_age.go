package pgtransport

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notifier/notifier/platform/metrics"
)

// OldestAge returns how long the oldest message not yet forwarded has been
// in the outbox table of each lane, by the database's clock: the age of
// the table's first row in forwarding order (its "offset", the primary
// key, so the question costs one index probe however long the table has
// grown); 0 when it is empty. Forwarded rows are deleted, so a row still
// there has not reached the broker. A lane without a table of its own is
// left out.
func (o *Outbox) OldestAge(ctx context.Context) (map[string]time.Duration, error) {
	ages := make(map[string]time.Duration, len(o.lanes))
	for name, l := range o.lanes {
		var seconds float64
		err := l.pool.QueryRow(ctx, `
			SELECT coalesce((
				SELECT greatest(extract(epoch FROM clock_timestamp() - created_at), 0)
				FROM `+messagesTable(l.topic)+`
				ORDER BY "offset"
				LIMIT 1
			), 0)::float8`).Scan(&seconds)
		if err != nil {
			return nil, fmt.Errorf("outbox %s oldest age: %w", name, err)
		}
		ages[name] = time.Duration(seconds * float64(time.Second))
	}
	return ages, nil
}

// OutboxAgeDesc describes the outbox age gauge.
var OutboxAgeDesc = prometheus.NewDesc("notifier_outbox_oldest_age_seconds",
	"Age of the oldest message in the outbox table of a lane not yet forwarded to the broker (0 when empty), "+
		"read from the database at scrape time.",
	[]string{"lane"}, nil)

// NewOutboxAgeGauge returns the collector of notifier_outbox_oldest_age_seconds
// for o, read at most once per opts.TTL.
func NewOutboxAgeGauge(o *Outbox, opts metrics.CachedGaugeOptions) (*metrics.CachedGauge, error) {
	if o == nil {
		return nil, fmt.Errorf("new outbox age gauge: nil outbox")
	}
	return metrics.NewCachedGauge(OutboxAgeDesc, func(ctx context.Context) ([]metrics.Sample, error) {
		ages, err := o.OldestAge(ctx)
		if err != nil {
			return nil, err
		}
		samples := make([]metrics.Sample, 0, len(ages))
		for name, age := range ages {
			samples = append(samples, metrics.Sample{Value: age.Seconds(), Labels: []string{name}})
		}
		slices.SortFunc(samples, func(a, b metrics.Sample) int { return strings.Compare(a.Labels[0], b.Labels[0]) })
		return samples, nil
	}, opts)
}
