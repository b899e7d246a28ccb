package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// MarkInboxMessageRead marks one message of a user's inbox read.
type MarkInboxMessageRead struct {
	UserID    string
	MessageID string
}

// MarkInboxMessageReadHandler answers MarkInboxMessageRead.
type MarkInboxMessageReadHandler struct {
	store InboxStore
	clock clock.Clock
}

// NewMarkInboxMessageReadHandler returns the handler; both arguments are
// required.
func NewMarkInboxMessageReadHandler(store InboxStore, clk clock.Clock) (*MarkInboxMessageReadHandler, error) {
	if store == nil || clk == nil {
		return nil, errors.New("new mark inbox message read handler: store and clock are required")
	}
	return &MarkInboxMessageReadHandler{store: store, clock: clk}, nil
}

// Handle marks the message read and returns it; marking it again changes
// nothing (it keeps the time it was first read). It returns an
// *InvalidInputError naming "user_id" or "message_id" for a malformed one,
// and ErrInboxMessageNotFound when the user has no such message (unknown,
// another user's, or expired).
func (h *MarkInboxMessageReadHandler) Handle(ctx context.Context, c MarkInboxMessageRead) (domain.InboxMessage, error) {
	if !userIDPattern.MatchString(c.UserID) {
		return domain.InboxMessage{}, invalid("user_id", "must be 1 to 128 of A-Z a-z 0-9 _ . : -")
	}
	if !domain.ValidInboxMessageID(c.MessageID) {
		return domain.InboxMessage{}, invalid("message_id", "must be 32 lowercase hex digits")
	}
	m, err := h.store.MarkRead(ctx, c.UserID, c.MessageID, h.clock.Now())
	if errors.Is(err, ErrInboxMessageNotFound) {
		return domain.InboxMessage{}, err
	}
	if err != nil {
		return domain.InboxMessage{}, fmt.Errorf("mark inbox message read: %w", err)
	}
	return m, nil
}
