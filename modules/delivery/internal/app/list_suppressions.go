package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Page sizes of ListSuppressions.
const (
	DefaultSuppressionLimit = 100
	MaxSuppressionLimit     = 500
)

// ListSuppressions asks for a page of the suppression list.
type ListSuppressions struct {
	// Address keeps only this address (normalized before the lookup; its
	// channel inferred when Channel is empty); empty keeps all.
	Address string
	// Channel keeps only entries of this channel; empty keeps all.
	Channel string
	// Limit is the page size, 1..MaxSuppressionLimit; zero means
	// DefaultSuppressionLimit.
	Limit int
	// Cursor is the NextCursor of the previous page; empty starts.
	Cursor string
}

// ListSuppressionsHandler answers ListSuppressions.
type ListSuppressionsHandler struct{ store SuppressionStore }

// NewListSuppressionsHandler returns the handler; store is required.
func NewListSuppressionsHandler(store SuppressionStore) (*ListSuppressionsHandler, error) {
	if store == nil {
		return nil, errors.New("new list suppressions handler: store is required")
	}
	return &ListSuppressionsHandler{store: store}, nil
}

// Handle returns a page of the list, newest first. It returns an
// *InvalidInputError naming "address", "channel", "limit" or "cursor" for
// bad input.
func (h *ListSuppressionsHandler) Handle(ctx context.Context, q ListSuppressions) (SuppressionPage, error) {
	if q.Channel != "" && q.Channel != domain.ChannelEmail && q.Channel != domain.ChannelSMS {
		return SuppressionPage{}, invalid("channel", "unknown channel (email, sms)")
	}
	sq := SuppressionQuery{Channel: q.Channel, Limit: q.Limit, Cursor: q.Cursor}
	if q.Address != "" {
		addr, err := parseAddress(q.Channel, q.Address)
		if err != nil {
			return SuppressionPage{}, err
		}
		sq.Channel, sq.Address = addr.Channel, addr.Value
	}
	if sq.Limit == 0 {
		sq.Limit = DefaultSuppressionLimit
	}
	if sq.Limit < 1 || sq.Limit > MaxSuppressionLimit {
		return SuppressionPage{}, invalid("limit", "must be between 1 and %d", MaxSuppressionLimit)
	}
	page, err := h.store.ListSuppressions(ctx, sq)
	if errors.Is(err, ErrInvalidCursor) {
		return SuppressionPage{}, invalid("cursor", "is not a cursor this API returned")
	}
	if err != nil {
		return SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
	}
	return page, nil
}
