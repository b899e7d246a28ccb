package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// userIDPattern is what a user id may hold: the directory's ids (UUIDs,
// numbers) and the characters the other user routes of the API accept.
var userIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// ListUserDeliveries asks for a page of one user's deliveries across
// postings.
type ListUserDeliveries struct {
	UserID string
	// Status keeps only deliveries with this status; empty keeps all.
	Status string
	// Channel keeps only deliveries of this channel; empty keeps all.
	Channel string
	// Limit is the page size, 1..MaxListLimit; zero means DefaultListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page; empty starts.
	Cursor string
}

// ListUserDeliveriesHandler answers ListUserDeliveries.
type ListUserDeliveriesHandler struct{ store Store }

// NewListUserDeliveriesHandler returns the handler; store is required.
func NewListUserDeliveriesHandler(store Store) (*ListUserDeliveriesHandler, error) {
	if store == nil {
		return nil, errors.New("new list user deliveries handler: store is required")
	}
	return &ListUserDeliveriesHandler{store: store}, nil
}

// Handle returns a page of the user's deliveries, newest first (by when
// each was created, then posting and channel). A user without deliveries
// (or an unknown one) has an empty page. It returns an *InvalidInputError
// naming "user_id", "status", "channel", "limit" or "cursor" for bad input.
func (h *ListUserDeliveriesHandler) Handle(ctx context.Context, q ListUserDeliveries) (Page, error) {
	if !userIDPattern.MatchString(q.UserID) {
		return Page{}, invalid("user_id", "must be 1 to 128 of A-Z a-z 0-9 _ . : -")
	}
	if q.Status != "" && !domain.ValidStatus(q.Status) {
		return Page{}, invalid("status", "unknown status %q", q.Status)
	}
	if q.Channel != "" && q.Channel != domain.ChannelEmail && q.Channel != domain.ChannelSMS && q.Channel != domain.ChannelInApp &&
		q.Channel != domain.ChannelWebhook {
		return Page{}, invalid("channel", "unknown channel %q", q.Channel)
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return Page{}, invalid("limit", "must be between 1 and %d", MaxListLimit)
	}
	page, err := h.store.ListByUser(ctx, q.UserID, UserListQuery{Status: q.Status, Channel: q.Channel, Limit: q.Limit, Cursor: q.Cursor})
	if errors.Is(err, ErrInvalidCursor) {
		return Page{}, invalid("cursor", "is not a cursor this API returned")
	}
	if err != nil {
		return Page{}, fmt.Errorf("list user deliveries: %w", err)
	}
	return page, nil
}
