package poisonqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// deleter deletes an entry (Store.Delete).
type deleter interface {
	Delete(ctx context.Context, id string) error
}

// DiscardPoisonedHandler deletes a poisoned message an operator gave up
// on: nothing is sent anywhere. It logs the entry's id, never its
// content.
type DiscardPoisonedHandler struct {
	store  deleter
	logger *slog.Logger
}

// NewDiscardPoisonedHandler returns the handler; store and logger are
// required.
func NewDiscardPoisonedHandler(store deleter, logger *slog.Logger) (*DiscardPoisonedHandler, error) {
	if store == nil || logger == nil {
		return nil, errors.New("new discard poisoned handler: store and logger are required")
	}
	return &DiscardPoisonedHandler{store: store, logger: logger}, nil
}

// Handle deletes the entry id. It returns an *InvalidInputError naming
// "id" for an id that is no entry id, and ErrNotFound for one not in the
// store (discarded or requeued already: a repeat changes nothing).
func (h *DiscardPoisonedHandler) Handle(ctx context.Context, id string) error {
	id, ok := canonicalID(id)
	if !ok {
		return invalid("id", "is not the id of a poisoned message (a UUID)")
	}
	err := h.store.Delete(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("discard poisoned message: %w", err)
	}
	h.logger.InfoContext(ctx, "poisoned message discarded", "id", id)
	return nil
}
