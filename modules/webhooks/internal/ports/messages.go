package ports

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/platform/messaging"
)

// The stable names of the module's message handlers (they name queues).
const (
	EnqueueOnDeliveryOutcomesName = "webhooks.EnqueueOnDeliveryOutcomes"
	EnqueueOnPostingFinishedName  = "webhooks.EnqueueOnPostingFinished"
)

// EnqueueOnDeliveryOutcomes is the Watermill event handler of
// delivery.DeliveryOutcomes. It observes the event beside the posting
// module (messaging.Observer) and needs no deduplication: its messages are
// unique per (endpoint, event).
type EnqueueOnDeliveryOutcomes struct {
	uc *app.EnqueueOnDeliveryOutcomes
}

// NewEnqueueOnDeliveryOutcomes returns the handler; uc is required.
func NewEnqueueOnDeliveryOutcomes(uc *app.EnqueueOnDeliveryOutcomes) (*EnqueueOnDeliveryOutcomes, error) {
	if uc == nil {
		return nil, errors.New("new enqueue on delivery outcomes handler: nil use case")
	}
	return &EnqueueOnDeliveryOutcomes{uc: uc}, nil
}

// HandlerName names the handler's queue.
func (h *EnqueueOnDeliveryOutcomes) HandlerName() string { return EnqueueOnDeliveryOutcomesName }

// NewEvent returns the event to decode into.
func (h *EnqueueOnDeliveryOutcomes) NewEvent() any { return &delivery.DeliveryOutcomes{} }

// Observes implements messaging.Observer: the posting module consumes
// the event too.
func (h *EnqueueOnDeliveryOutcomes) Observes() bool { return true }

// SkipDeduplication implements messaging.SkipsDeduplication.
func (h *EnqueueOnDeliveryOutcomes) SkipDeduplication() bool { return true }

// Handle enqueues the messages of the outcomes.
func (h *EnqueueOnDeliveryOutcomes) Handle(ctx context.Context, event any) error {
	e, ok := event.(*delivery.DeliveryOutcomes)
	if !ok {
		return messaging.Permanent(fmt.Errorf("%s: unexpected event %T", h.HandlerName(), event))
	}
	return h.uc.Handle(ctx, *e)
}

// EnqueueOnPostingFinished is the Watermill event handler of
// posting.PostingFinished, deduplicated by its messages' keys.
type EnqueueOnPostingFinished struct{ uc *app.EnqueueOnPostingFinished }

// NewEnqueueOnPostingFinished returns the handler; uc is required.
func NewEnqueueOnPostingFinished(uc *app.EnqueueOnPostingFinished) (*EnqueueOnPostingFinished, error) {
	if uc == nil {
		return nil, errors.New("new enqueue on posting finished handler: nil use case")
	}
	return &EnqueueOnPostingFinished{uc: uc}, nil
}

// HandlerName names the handler's queue.
func (h *EnqueueOnPostingFinished) HandlerName() string { return EnqueueOnPostingFinishedName }

// NewEvent returns the event to decode into.
func (h *EnqueueOnPostingFinished) NewEvent() any { return &posting.PostingFinished{} }

// SkipDeduplication implements messaging.SkipsDeduplication.
func (h *EnqueueOnPostingFinished) SkipDeduplication() bool { return true }

// Handle enqueues the message of the posting's end.
func (h *EnqueueOnPostingFinished) Handle(ctx context.Context, event any) error {
	e, ok := event.(*posting.PostingFinished)
	if !ok {
		return messaging.Permanent(fmt.Errorf("%s: unexpected event %T", h.HandlerName(), event))
	}
	return h.uc.Handle(ctx, *e)
}
