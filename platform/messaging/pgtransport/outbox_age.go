package pgtransport

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notifier/notifier/platform/metrics"
)

// OldestAge returns how long the oldest message not yet forwarded has been
// in the outbox table, by the database's clock: the age of the table's
// first row in forwarding order (its "offset", the primary key, so the
// question costs one index probe however long the table has grown); 0 when
// the outbox is empty. Forwarded rows are deleted, so a row still there has
// not reached the broker.
func (o *Outbox) OldestAge(ctx context.Context) (time.Duration, error) {
	var seconds float64
	err := o.pool.QueryRow(ctx, `
		SELECT coalesce((
			SELECT greatest(extract(epoch FROM clock_timestamp() - created_at), 0)
			FROM `+messagesTable(OutboxTopic)+`
			ORDER BY "offset"
			LIMIT 1
		), 0)::float8`).Scan(&seconds)
	if err != nil {
		return 0, fmt.Errorf("outbox oldest age: %w", err)
	}
	return time.Duration(seconds * float64(time.Second)), nil
}

// OutboxAgeDesc describes the outbox age gauge.
var OutboxAgeDesc = prometheus.NewDesc("notifier_outbox_oldest_age_seconds",
	"Age of the oldest message in the outbox table not yet forwarded to the broker (0 when empty), "+
		"read from the database at scrape time.",
	nil, nil)

// NewOutboxAgeGauge returns the collector of notifier_outbox_oldest_age_seconds
// for o, read at most once per opts.TTL.
func NewOutboxAgeGauge(o *Outbox, opts metrics.CachedGaugeOptions) (*metrics.CachedGauge, error) {
	if o == nil {
		return nil, fmt.Errorf("new outbox age gauge: nil outbox")
	}
	return metrics.NewCachedGauge(OutboxAgeDesc, func(ctx context.Context) ([]metrics.Sample, error) {
		age, err := o.OldestAge(ctx)
		if err != nil {
			return nil, err
		}
		return []metrics.Sample{{Value: age.Seconds()}}, nil
	}, opts)
}
