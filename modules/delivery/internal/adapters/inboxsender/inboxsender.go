// Package inboxsender delivers the inapp channel: it stores each message in
// the user's in-app inbox.
package inboxsender

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// Notifier is told which user's inbox got a new message (app.InboxHub).
type Notifier interface {
	Notify(userID string)
}

// Sender is an app.Sender that stores messages in an app.InboxStore. It is
// safe for concurrent use, so every worker may share one.
type Sender struct {
	store    app.InboxStore
	notifier Notifier
	clock    clock.Clock
}

// New returns a Sender into store that tells notifier of each new message
// and stamps it with clk; all are required.
func New(store app.InboxStore, notifier Notifier, clk clock.Clock) (*Sender, error) {
	if store == nil || notifier == nil || clk == nil {
		return nil, errors.New("new inbox sender: store, notifier and clock are required")
	}
	return &Sender{store: store, notifier: notifier, clock: clk}, nil
}

// Send implements app.Sender: the message is sent once it is stored. Its id
// is the delivery's idempotency key, so sending the same delivery again
// stores nothing (and is still a success). A store failure is transient.
func (s *Sender) Send(ctx context.Context, m app.Message) error {
	msg := domain.InboxMessage{
		ID:               m.IdempotencyKey,
		UserID:           m.UserID,
		PostingID:        m.PostingID,
		NotificationType: m.NotificationType,
		Title:            m.Subject,
		Body:             m.Text,
		// PostgreSQL keeps microseconds: both stores keep the same times.
		CreatedAt: s.clock.Now().UTC().Truncate(time.Microsecond),
		ExpiresAt: m.ExpiresAt,
	}
	if !domain.ValidInboxMessageID(msg.ID) || msg.UserID == "" {
		return errors.New("inbox: message without a valid id or user")
	}
	added, err := s.store.Add(ctx, msg)
	if err != nil {
		return app.Transient(fmt.Errorf("inbox: %w", err))
	}
	if added {
		s.notifier.Notify(msg.UserID)
	}
	return nil
}
