package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/posting/internal/domain"
)

// GetPostingHandler reads one posting.
type GetPostingHandler struct {
	store domain.Store
}

// NewGetPostingHandler returns the handler; the store is required.
func NewGetPostingHandler(store domain.Store) (*GetPostingHandler, error) {
	if store == nil {
		return nil, errors.New("new get posting handler: nil store")
	}
	return &GetPostingHandler{store: store}, nil
}

// Handle returns the posting with id. It returns an *Error with
// CodeNotFound for an unknown or malformed id.
func (h *GetPostingHandler) Handle(ctx context.Context, id string) (domain.Posting, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return domain.Posting{}, notFound(id)
	}
	p, err := h.store.Get(ctx, uid)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Posting{}, notFound(id)
	}
	if err != nil {
		return domain.Posting{}, fmt.Errorf("get posting: %w", err)
	}
	return p, nil
}
