package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

// Page sizes of ListAttempts.
const (
	DefaultAttemptsLimit = 20
	MaxAttemptsLimit     = domain.HistorySize
)

// ListAttempts asks for a page of an endpoint's history.
type ListAttempts struct {
	EndpointID string
	// Limit is the page size, 1..MaxAttemptsLimit; zero means
	// DefaultAttemptsLimit.
	Limit int
	// Cursor is the next cursor of the previous page; empty starts.
	Cursor string
}

// AttemptsPage is one page of an endpoint's history.
type AttemptsPage struct {
	Items []domain.Attempt
	// NextCursor fetches the next page; empty on the last.
	NextCursor string
}

// ListAttemptsHandler answers ListAttempts.
type ListAttemptsHandler struct{ store Store }

// NewListAttemptsHandler returns the handler; store is required.
func NewListAttemptsHandler(store Store) (*ListAttemptsHandler, error) {
	if store == nil {
		return nil, errors.New("new list attempts handler: store is required")
	}
	return &ListAttemptsHandler{store: store}, nil
}

// Handle returns a page of the endpoint's last domain.HistorySize
// attempts, the most recent first. It returns domain.ErrNotFound for an
// unknown endpoint and an *InvalidInputError naming "limit" or "cursor".
func (h *ListAttemptsHandler) Handle(ctx context.Context, q ListAttempts) (AttemptsPage, error) {
	id, err := parseID(q.EndpointID)
	if err != nil {
		return AttemptsPage{}, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultAttemptsLimit
	}
	if q.Limit < 1 || q.Limit > MaxAttemptsLimit {
		return AttemptsPage{}, invalid("limit", "must be between 1 and %d", MaxAttemptsLimit)
	}
	if _, err := h.store.GetEndpoint(ctx, id); err != nil {
		return AttemptsPage{}, fmt.Errorf("get endpoint: %w", err)
	}
	items, next, err := h.store.ListAttempts(ctx, id, q.Limit, q.Cursor)
	if errors.Is(err, ErrInvalidCursor) {
		return AttemptsPage{}, invalid("cursor", "is not a cursor this API returned")
	}
	if err != nil {
		return AttemptsPage{}, fmt.Errorf("list attempts: %w", err)
	}
	return AttemptsPage{Items: items, NextCursor: next}, nil
}
