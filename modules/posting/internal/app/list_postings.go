package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/posting/internal/domain"
)

// Limits of a listing page.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
)

// ListPostings is a listing request. Empty filters match everything.
type ListPostings struct {
	FromEvent        string
	Status           string
	NotificationType string
	// Limit is the page size, 1..MaxListLimit; 0 means DefaultListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or empty.
	Cursor string
}

// PostingsPage is one page of a listing.
type PostingsPage struct {
	Items []domain.Posting
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string
}

// ListPostingsHandler lists postings, newest first.
type ListPostingsHandler struct {
	store domain.Store
}

// NewListPostingsHandler returns the handler; the store is required.
func NewListPostingsHandler(store domain.Store) (*ListPostingsHandler, error) {
	if store == nil {
		return nil, errors.New("new list postings handler: nil store")
	}
	return &ListPostingsHandler{store: store}, nil
}

// Handle returns one page of the postings q selects. It returns an *Error
// with CodeInvalid naming the parameter for a bad filter, limit or cursor.
func (h *ListPostingsHandler) Handle(ctx context.Context, q ListPostings) (PostingsPage, error) {
	query := domain.ListQuery{FromEvent: q.FromEvent, NotificationType: q.NotificationType, Limit: q.Limit}
	switch {
	case !isText(q.FromEvent):
		return PostingsPage{}, invalid("from_event", "must be UTF-8 text without NUL characters")
	case !isText(q.NotificationType):
		return PostingsPage{}, invalid("notification_type", "must be UTF-8 text without NUL characters")
	}
	if q.Status != "" {
		query.Status = domain.Status(q.Status)
		if !query.Status.Valid() {
			return PostingsPage{}, invalid("status", "unknown status %q", q.Status)
		}
	}
	switch {
	case query.Limit == 0:
		query.Limit = DefaultListLimit
	case query.Limit < 1 || query.Limit > MaxListLimit:
		return PostingsPage{}, invalid("limit", "must be from 1 to %d", MaxListLimit)
	}
	if q.Cursor != "" {
		c, err := domain.DecodeCursor(q.Cursor)
		if err != nil {
			return PostingsPage{}, invalid("cursor", "is not a cursor this API returned")
		}
		query.After = &c
	}
	limit := query.Limit
	query.Limit++ // one more tells whether a next page exists
	items, err := h.store.List(ctx, query)
	if err != nil {
		return PostingsPage{}, fmt.Errorf("list postings: %w", err)
	}
	page := PostingsPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = domain.CursorOf(items[limit-1]).Encode()
	}
	return page, nil
}
