package ports

import (
	"context"
	"fmt"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/messaging"
)

// DeliverBatchLane is the Watermill command handler of one delivery lane:
// the same use case runs on each lane, from the lane's own topic (RouteKey)
// and queue (HandlerName), so a mailing never holds up a code.
type DeliverBatchLane struct {
	lane    string
	handler *app.DeliverBatchHandler
}

// NewDeliverBatchLane returns the handler of lane (delivery.LaneTransactional
// or delivery.LaneBulk); handler is required.
func NewDeliverBatchLane(lane string, handler *app.DeliverBatchHandler) (*DeliverBatchLane, error) {
	if lane != delivery.LaneTransactional && lane != delivery.LaneBulk {
		return nil, fmt.Errorf("new deliver batch lane: unknown lane %q", lane)
	}
	if handler == nil {
		return nil, fmt.Errorf("new deliver batch lane %s: handler is required", lane)
	}
	return &DeliverBatchLane{lane: lane, handler: handler}, nil
}

// HandlerName is "delivery.DeliverBatch.<lane>"; it names the lane's queue.
func (l *DeliverBatchLane) HandlerName() string { return "delivery.DeliverBatch." + l.lane }

// RouteKey is the lane: the handler subscribes to the lane's topic only.
func (l *DeliverBatchLane) RouteKey() string { return l.lane }

// NewCommand returns the command to decode into.
func (l *DeliverBatchLane) NewCommand() any { return &delivery.DeliverBatch{} }

// SkipDeduplication tells the router not to deduplicate this handler's
// messages by key: the delivery rows already make a batch idempotent (a
// redelivered batch sends nothing twice and reports only what was never
// reported), and a deduplication key would hold a transaction open for the
// whole batch, while it waits for SMTP servers.
func (l *DeliverBatchLane) SkipDeduplication() bool { return true }

// Handle delivers the batch (see app.DeliverBatchHandler.Handle).
func (l *DeliverBatchLane) Handle(ctx context.Context, cmd any) error {
	c, ok := cmd.(*delivery.DeliverBatch)
	if !ok {
		return messaging.Permanent(fmt.Errorf("%s: unexpected command %T", l.HandlerName(), cmd))
	}
	return l.handler.Handle(ctx, *c)
}

// CancelDeliveriesOnPostingCancelled is the Watermill event handler of
// posting.PostingCancelled.
type CancelDeliveriesOnPostingCancelled struct {
	handler *app.CancelDeliveriesOnPostingCancelled
}

// NewCancelDeliveriesOnPostingCancelled returns the event handler; handler
// is required.
func NewCancelDeliveriesOnPostingCancelled(handler *app.CancelDeliveriesOnPostingCancelled) (*CancelDeliveriesOnPostingCancelled, error) {
	if handler == nil {
		return nil, fmt.Errorf("new cancel deliveries on posting cancelled: handler is required")
	}
	return &CancelDeliveriesOnPostingCancelled{handler: handler}, nil
}

// HandlerName names the handler's queue.
func (h *CancelDeliveriesOnPostingCancelled) HandlerName() string {
	return "delivery.CancelDeliveriesOnPostingCancelled"
}

// NewEvent returns the event to decode into.
func (h *CancelDeliveriesOnPostingCancelled) NewEvent() any { return &posting.PostingCancelled{} }

// Handle cancels the posting's pending deliveries.
func (h *CancelDeliveriesOnPostingCancelled) Handle(ctx context.Context, event any) error {
	e, ok := event.(*posting.PostingCancelled)
	if !ok {
		return messaging.Permanent(fmt.Errorf("%s: unexpected event %T", h.HandlerName(), event))
	}
	return h.handler.Handle(ctx, *e)
}
