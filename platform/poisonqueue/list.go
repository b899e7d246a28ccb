package poisonqueue

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Page sizes and the preview of ListPoisoned.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
	// PreviewBytes is how much of each payload a list shows.
	PreviewBytes = 256
	// maxFilter bounds the handler and topic filters.
	maxFilter = 300
)

// ListPoisoned asks for a page of poisoned messages.
type ListPoisoned struct {
	// Handler and Topic keep only the messages refused by that handler,
	// or from that topic; empty keeps all.
	Handler string
	Topic   string
	// Limit is the page size, 1..MaxListLimit; zero means DefaultListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page; empty starts.
	Cursor string
}

// lister reads pages of entries (Store.List).
type lister interface {
	List(ctx context.Context, q Query) (Page, error)
}

// ListPoisonedHandler answers ListPoisoned.
type ListPoisonedHandler struct{ store lister }

// NewListPoisonedHandler returns the handler; store is required.
func NewListPoisonedHandler(store lister) (*ListPoisonedHandler, error) {
	if store == nil {
		return nil, errors.New("new list poisoned handler: store is required")
	}
	return &ListPoisonedHandler{store: store}, nil
}

// Handle returns a page, newest first, each payload cut to a little more
// than PreviewBytes (Preview cuts it at a whole character). It returns an
// *InvalidInputError naming "handler", "topic", "limit" or "cursor" for
// bad input.
func (h *ListPoisonedHandler) Handle(ctx context.Context, q ListPoisoned) (Page, error) {
	if len(q.Handler) > maxFilter || !utf8.ValidString(q.Handler) {
		return Page{}, invalid("handler", "must be valid text of at most %d bytes", maxFilter)
	}
	if len(q.Topic) > maxFilter || !utf8.ValidString(q.Topic) {
		return Page{}, invalid("topic", "must be valid text of at most %d bytes", maxFilter)
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return Page{}, invalid("limit", "must be between 1 and %d", MaxListLimit)
	}
	page, err := h.store.List(ctx, Query{
		Handler: q.Handler, Topic: q.Topic, Limit: q.Limit, Cursor: q.Cursor,
		PayloadPrefix: PreviewBytes + utf8.UTFMax - 1,
	})
	if errors.Is(err, ErrInvalidCursor) {
		return Page{}, invalid("cursor", "is not a cursor this API returned")
	}
	if err != nil {
		return Page{}, fmt.Errorf("list poisoned messages: %w", err)
	}
	return page, nil
}
