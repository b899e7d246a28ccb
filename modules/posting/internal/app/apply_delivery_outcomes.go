package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// ApplyDeliveryOutcomesHandler adds the final statuses the delivery module
// reports to a posting's counters and completes the posting when every
// delivery of it is final.
type ApplyDeliveryOutcomesHandler struct {
	store domain.Store
	clock clock.Clock
	log   *slog.Logger
}

// NewApplyDeliveryOutcomesHandler returns the handler; every dependency is
// required.
func NewApplyDeliveryOutcomesHandler(store domain.Store, clk clock.Clock, logger *slog.Logger) (*ApplyDeliveryOutcomesHandler, error) {
	if store == nil || clk == nil || logger == nil {
		return nil, errors.New("new apply delivery outcomes handler: nil dependency")
	}
	return &ApplyDeliveryOutcomesHandler{store: store, clock: clk, log: logger}, nil
}

// Handle applies e in one atomic store step, so that instances applying
// outcomes of one posting at once lose no count. Each outcome counts once
// per call: a redelivered event is dropped by the router's deduplicator
// before it gets here. Outcomes with a non-final status are ignored. It
// returns an *Error (CodeInvalid or CodeNotFound) for an event about no
// posting of this store.
func (h *ApplyDeliveryOutcomesHandler) Handle(ctx context.Context, e delivery.DeliveryOutcomes) error {
	id, err := uuid.Parse(e.PostingID)
	if err != nil {
		return invalid("posting_id", "%q is not a uuid", e.PostingID)
	}
	var delta domain.Counters
	for _, o := range e.Outcomes {
		switch o.Status {
		case delivery.StatusSent:
			delta.Sent++
		case delivery.StatusFailed:
			delta.Failed++
		case delivery.StatusExpired:
			delta.Expired++
		case delivery.StatusSkipped:
			delta.Skipped++
		case delivery.StatusCancelled:
			delta.Cancelled++
		default:
			h.log.WarnContext(ctx, "delivery outcome ignored: not a final status", "posting_id", e.PostingID, "status", o.Status)
		}
	}
	p, err := h.store.AddOutcomes(ctx, id, delta, h.clock.Now())
	if errors.Is(err, domain.ErrNotFound) {
		return notFound(e.PostingID)
	}
	if err != nil {
		return fmt.Errorf("apply delivery outcomes: %w", err)
	}
	if p.Status.Terminal() && p.CompletedAt != nil && p.UpdatedAt.Equal(*p.CompletedAt) {
		h.log.InfoContext(ctx, "posting finished", "posting_id", p.ID, "status", p.Status,
			"sent", p.Counters.Sent, "failed", p.Counters.Failed, "skipped", p.Counters.Skipped,
			"expired", p.Counters.Expired, "cancelled", p.Counters.Cancelled)
	}
	return nil
}
