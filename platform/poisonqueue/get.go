package poisonqueue

import (
	"context"
	"errors"
	"fmt"
)

// getter reads one entry (Store.Get).
type getter interface {
	Get(ctx context.Context, id string) (Message, error)
}

// GetPoisonedHandler returns one poisoned message, its whole payload and
// metadata included.
type GetPoisonedHandler struct{ store getter }

// NewGetPoisonedHandler returns the handler; store is required.
func NewGetPoisonedHandler(store getter) (*GetPoisonedHandler, error) {
	if store == nil {
		return nil, errors.New("new get poisoned handler: store is required")
	}
	return &GetPoisonedHandler{store: store}, nil
}

// Handle returns the entry id. It returns an *InvalidInputError naming
// "id" for an id that is no entry id, and ErrNotFound for one not in the
// store.
func (h *GetPoisonedHandler) Handle(ctx context.Context, id string) (Message, error) {
	id, ok := canonicalID(id)
	if !ok {
		return Message{}, invalid("id", "is not the id of a poisoned message (a UUID)")
	}
	m, err := h.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Message{}, err
	}
	if err != nil {
		return Message{}, fmt.Errorf("get poisoned message: %w", err)
	}
	return m, nil
}
