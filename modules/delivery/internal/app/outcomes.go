package app

import (
	"context"
	"fmt"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// reportOutcomes publishes the final, not yet reported rows of scope in
// DeliveryOutcomes events (one per chunk of the scope) and marks them
// reported, through Store.Report: a row is reported once, and a row whose
// event could not be published stays unreported for the next try. It
// returns the rows reported, counted by status and channel. The events
// travel on lane, the lane of the posting.
func reportOutcomes(ctx context.Context, store Store, events EventPublisher, scope ReportScope, lane string) (reported, error) {
	counts := reported{}
	_, err := store.Report(ctx, scope, func(ctx context.Context, rows []domain.Delivery) error {
		ev := &delivery.DeliveryOutcomes{PostingID: scope.PostingID, Lane: lane, Outcomes: make([]delivery.Outcome, len(rows))}
		for i, r := range rows {
			ev.Outcomes[i] = r.Outcome()
		}
		if err := events.Publish(ctx, ev); err != nil {
			return fmt.Errorf("publish delivery outcomes: %w", err)
		}
		for _, r := range rows {
			counts[reportedKey{status: r.Status, channel: r.Channel}]++
		}
		return nil
	})
	if err != nil {
		return counts, fmt.Errorf("report delivery outcomes: %w", err)
	}
	return counts, nil
}

// reported counts reported rows by status and channel.
type reported map[reportedKey]int

type reportedKey struct{ status, channel string }

// byStatus returns the counts by status, for the log.
func (r reported) byStatus() map[string]int {
	out := make(map[string]int, len(r))
	for k, n := range r {
		out[k.status] += n
	}
	return out
}

// count tells metrics what was reported, on lane. Callers count only a
// report that stands: when the handler fails, the unit of work it was
// published in rolls back and the redelivered message reports the rows
// again.
func (r reported) count(metrics Metrics, lane string) {
	for k, n := range r {
		metrics.Reported(lane, k.channel, k.status, n)
	}
}
