package app

import (
	"context"
	"errors"
	"fmt"
)

// ListOpenDigests asks for what is held for a user's digests.
type ListOpenDigests struct {
	UserID string
}

// ListOpenDigestsHandler answers ListOpenDigests.
type ListOpenDigestsHandler struct {
	store DigestStore
}

// NewListOpenDigestsHandler returns the handler; store is required.
func NewListOpenDigestsHandler(store DigestStore) (*ListOpenDigestsHandler, error) {
	if store == nil {
		return nil, errors.New("new list open digests handler: store is required")
	}
	return &ListOpenDigestsHandler{store: store}, nil
}

// Handle returns the user's open digests (at most one per type and
// channel), soonest due first; none for a user without (or unknown). It
// returns an *InvalidInputError naming "user_id" for a malformed id.
func (h *ListOpenDigestsHandler) Handle(ctx context.Context, q ListOpenDigests) ([]OpenDigest, error) {
	if !userIDPattern.MatchString(q.UserID) {
		return nil, invalid("user_id", "must be 1 to 128 of A-Z a-z 0-9 _ . : -")
	}
	open, err := h.store.OpenOf(ctx, q.UserID)
	if err != nil {
		return nil, fmt.Errorf("list open digests: %w", err)
	}
	return open, nil
}
