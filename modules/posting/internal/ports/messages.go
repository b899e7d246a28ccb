// Package ports adapts the posting use cases to their transports: Watermill
// command and event handlers, and the HTTP API.
package ports

import (
	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/platform/messaging"
)

// The stable names of the module's message handlers (they name queues).
const (
	CreatePostingHandlerName  = "posting.CreatePosting"
	ExpandAudienceHandlerName = "posting.ExpandAudience"
	ApplyOutcomesHandlerName  = "posting.ApplyOutcomesOnDeliveryOutcomes"
)

// NewCreatePostingCommandHandler handles posting.CreatePosting. An invalid
// command is a permanent failure (poison queue, no retry).
func NewCreatePostingCommandHandler(uc *app.CreatePostingHandler) (cqrs.CommandHandler, error) {
	if uc == nil {
		return nil, errors.New("create posting command handler: nil use case")
	}
	return cqrs.NewCommandHandler(CreatePostingHandlerName, func(ctx context.Context, cmd *posting.CreatePosting) error {
		_, _, err := uc.Handle(ctx, *cmd)
		return forBus(err)
	}), nil
}

// NewExpandAudienceCommandHandler handles the module's own ExpandAudience.
func NewExpandAudienceCommandHandler(uc *app.ExpandAudienceHandler) (cqrs.CommandHandler, error) {
	if uc == nil {
		return nil, errors.New("expand audience command handler: nil use case")
	}
	return cqrs.NewCommandHandler(ExpandAudienceHandlerName, func(ctx context.Context, cmd *app.ExpandAudience) error {
		return forBus(uc.Handle(ctx, *cmd))
	}), nil
}

// NewApplyOutcomesEventHandler applies delivery.DeliveryOutcomes to the
// postings' counters.
func NewApplyOutcomesEventHandler(uc *app.ApplyDeliveryOutcomesHandler) (cqrs.EventHandler, error) {
	if uc == nil {
		return nil, errors.New("apply outcomes event handler: nil use case")
	}
	return cqrs.NewEventHandler(ApplyOutcomesHandlerName, func(ctx context.Context, e *delivery.DeliveryOutcomes) error {
		return forBus(uc.Handle(ctx, *e))
	}), nil
}

// forBus marks the use-case errors no retry can fix as permanent.
func forBus(err error) error {
	if app.ErrorCodeOf(err) != "" {
		return messaging.Permanent(err)
	}
	return err
}
