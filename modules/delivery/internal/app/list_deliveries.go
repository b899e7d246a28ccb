package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Page sizes of ListDeliveries.
const (
	DefaultListLimit = 100
	MaxListLimit     = 500
)

// ListDeliveries asks for a page of a posting's deliveries.
type ListDeliveries struct {
	PostingID string
	// Status keeps only deliveries with this status; empty keeps all.
	Status string
	// Limit is the page size, 1..MaxListLimit; zero means DefaultListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page; empty starts.
	Cursor string
}

// ListDeliveriesHandler answers ListDeliveries.
type ListDeliveriesHandler struct{ store Store }

// NewListDeliveriesHandler returns the handler; store is required.
func NewListDeliveriesHandler(store Store) (*ListDeliveriesHandler, error) {
	if store == nil {
		return nil, errors.New("new list deliveries handler: store is required")
	}
	return &ListDeliveriesHandler{store: store}, nil
}

// Handle returns a page ordered by user id then channel. An unknown posting
// has no deliveries: its page is empty. It returns an *InvalidInputError
// naming "posting_id", "status", "limit" or "cursor" for bad input.
func (h *ListDeliveriesHandler) Handle(ctx context.Context, q ListDeliveries) (Page, error) {
	if q.PostingID == "" {
		return Page{}, invalid("posting_id", "is required")
	}
	if q.Status != "" && !domain.ValidStatus(q.Status) {
		return Page{}, invalid("status", "unknown status %q", q.Status)
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return Page{}, invalid("limit", "must be between 1 and %d", MaxListLimit)
	}
	page, err := h.store.ListByPosting(ctx, q.PostingID, ListQuery{Status: q.Status, Limit: q.Limit, Cursor: q.Cursor})
	if errors.Is(err, ErrInvalidCursor) {
		return Page{}, invalid("cursor", "is not a cursor this API returned")
	}
	if err != nil {
		return Page{}, fmt.Errorf("list deliveries: %w", err)
	}
	return page, nil
}
