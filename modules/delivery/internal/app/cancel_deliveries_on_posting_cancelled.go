package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/messaging"
)

// cancelOutcomesPerEvent bounds the size of one DeliveryOutcomes event
// published for a cancellation, which may finish many batches at once.
const cancelOutcomesPerEvent = 1000

// CancelDeliveriesOnPostingCancelled reacts to posting.PostingCancelled: it
// remembers the posting as cancelled, so that its later batches are recorded
// cancelled and never sent, turns its pending deliveries into cancelled and
// reports every final row of the posting not reported yet (the ones it
// cancelled, and any a batch finished but has not reported). A repeated
// event changes and reports nothing new.
type CancelDeliveriesOnPostingCancelled struct {
	store   Store
	events  EventPublisher
	clock   clock.Clock
	logger  *slog.Logger
	metrics Metrics
}

// CancelOption tunes a CancelDeliveriesOnPostingCancelled.
type CancelOption func(*CancelDeliveriesOnPostingCancelled)

// WithCancelMetrics tells m the outcomes the handler reports.
func WithCancelMetrics(m Metrics) CancelOption {
	return func(h *CancelDeliveriesOnPostingCancelled) {
		if m != nil {
			h.metrics = m
		}
	}
}

// NewCancelDeliveriesOnPostingCancelled returns the handler; every
// dependency is required.
func NewCancelDeliveriesOnPostingCancelled(store Store, events EventPublisher, clk clock.Clock, logger *slog.Logger,
	opts ...CancelOption,
) (*CancelDeliveriesOnPostingCancelled, error) {
	if store == nil || events == nil || clk == nil || logger == nil {
		return nil, errors.New("new cancel deliveries handler: store, events, clock and logger are required")
	}
	h := &CancelDeliveriesOnPostingCancelled{store: store, events: events, clock: clk, logger: logger, metrics: noMetrics{}}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Handle cancels the posting's pending deliveries and reports them. It
// returns an error only when the store or the event bus fails; the
// redelivered event then reports what this attempt could not. The outcomes
// are counted on the posting's lane, which the event names (bulk when it
// does not, as for DeliverBatch).
func (h *CancelDeliveriesOnPostingCancelled) Handle(ctx context.Context, ev posting.PostingCancelled) error {
	if ev.PostingID == "" {
		return messaging.Permanent(errors.New("posting cancelled: empty posting_id"))
	}
	n, err := h.store.CancelPosting(ctx, ev.PostingID, h.clock.Now())
	if err != nil {
		return fmt.Errorf("cancel deliveries: %w", err)
	}
	lane := delivery.DeliverBatch{Lane: string(ev.Priority)}.RouteKey()
	counts, err := reportOutcomes(ctx, h.store, h.events, ReportScope{PostingID: ev.PostingID, Chunk: cancelOutcomesPerEvent}, lane)
	h.logger.InfoContext(ctx, "deliveries cancelled", "posting_id", ev.PostingID, "cancelled", n, "reported", counts.byStatus())
	if err == nil {
		counts.count(h.metrics, lane)
	}
	return err
}
