package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/platform/clock"
)

// ListInbox asks for a page of a user's in-app inbox.
type ListInbox struct {
	UserID string
	// UnreadOnly keeps only the messages not read yet.
	UnreadOnly bool
	// Limit is the page size, 1..MaxListLimit; zero means DefaultListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page; empty starts.
	Cursor string
}

// ListInboxHandler answers ListInbox.
type ListInboxHandler struct {
	store InboxStore
	clock clock.Clock
}

// NewListInboxHandler returns the handler; both arguments are required.
func NewListInboxHandler(store InboxStore, clk clock.Clock) (*ListInboxHandler, error) {
	if store == nil || clk == nil {
		return nil, errors.New("new list inbox handler: store and clock are required")
	}
	return &ListInboxHandler{store: store, clock: clk}, nil
}

// Handle returns a page of the user's messages not expired, newest first,
// with the count of the unread ones. A user without messages (or an unknown
// one) has an empty page. It returns an *InvalidInputError naming
// "user_id", "limit" or "cursor" for bad input.
func (h *ListInboxHandler) Handle(ctx context.Context, q ListInbox) (InboxPage, error) {
	if !userIDPattern.MatchString(q.UserID) {
		return InboxPage{}, invalid("user_id", "must be 1 to 128 of A-Z a-z 0-9 _ . : -")
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return InboxPage{}, invalid("limit", "must be between 1 and %d", MaxListLimit)
	}
	page, err := h.store.List(ctx, InboxQuery{UserID: q.UserID, UnreadOnly: q.UnreadOnly, Limit: q.Limit, Cursor: q.Cursor, Now: h.clock.Now()})
	if errors.Is(err, ErrInvalidCursor) {
		return InboxPage{}, invalid("cursor", "is not a cursor this API returned")
	}
	if err != nil {
		return InboxPage{}, fmt.Errorf("list inbox: %w", err)
	}
	return page, nil
}
