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
// returns the number of rows reported per status.
func reportOutcomes(ctx context.Context, store Store, events EventPublisher, scope ReportScope) (map[string]int, error) {
	counts := map[string]int{}
	_, err := store.Report(ctx, scope, func(ctx context.Context, rows []domain.Delivery) error {
		ev := &delivery.DeliveryOutcomes{PostingID: scope.PostingID, Outcomes: make([]delivery.Outcome, len(rows))}
		for i, r := range rows {
			ev.Outcomes[i] = r.Outcome()
		}
		if err := events.Publish(ctx, ev); err != nil {
			return fmt.Errorf("publish delivery outcomes: %w", err)
		}
		for _, r := range rows {
			counts[r.Status]++
		}
		return nil
	})
	if err != nil {
		return counts, fmt.Errorf("report delivery outcomes: %w", err)
	}
	return counts, nil
}
