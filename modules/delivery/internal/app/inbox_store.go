package app

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// ErrInboxMessageNotFound is returned for a message that is not in the
// user's inbox: unknown, another user's, or expired.
var ErrInboxMessageNotFound = errors.New("inbox message not found")

// InboxStore keeps the users' in-app inboxes (table inbox_messages, owned by
// the delivery module). Every method is safe for concurrent use. A message
// past its expiry is never returned, whether or not it was swept yet.
type InboxStore interface {
	// Add stores m unless a message with its ID is stored already, and
	// reports whether it did: storing the same delivery twice is a no-op.
	Add(ctx context.Context, m domain.InboxMessage) (bool, error)
	// List returns a page of the user's messages not expired at q.Now,
	// newest first (creation time, then id, descending), and the count of
	// the unread ones. It returns ErrInvalidCursor for a cursor it did not
	// issue.
	List(ctx context.Context, q InboxQuery) (InboxPage, error)
	// Since returns at most limit of the user's messages not expired at now
	// and created at or after from, in order of arrival (creation time,
	// then id, ascending).
	Since(ctx context.Context, userID string, from, now time.Time, limit int) ([]domain.InboxMessage, error)
	// Get returns one of the user's messages not expired at now, or
	// ErrInboxMessageNotFound.
	Get(ctx context.Context, userID, id string, now time.Time) (domain.InboxMessage, error)
	// MarkRead marks one of the user's messages read at at, unless it is
	// read already (its first ReadAt stays), and returns it; it returns
	// ErrInboxMessageNotFound when the user has no such message not
	// expired at at.
	MarkRead(ctx context.Context, userID, id string, at time.Time) (domain.InboxMessage, error)
	// DeleteExpired removes the messages expired at now and returns how
	// many.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// InboxQuery asks for a page of one user's inbox.
type InboxQuery struct {
	UserID string
	// UnreadOnly keeps the unread messages only.
	UnreadOnly bool
	// Limit is the page size, at least 1.
	Limit int
	// Cursor is the NextCursor of the previous page; empty starts.
	Cursor string
	// Now decides which messages have expired.
	Now time.Time
}

// InboxPage is a page of an inbox.
type InboxPage struct {
	Items []domain.InboxMessage
	// NextCursor continues after the last item; empty on the last page.
	NextCursor string
	// Unread counts the user's unread messages, not only this page's.
	Unread int
}

// InboxCursor is the position a page of an inbox ends at: the last
// message's creation time and id.
type InboxCursor struct {
	CreatedAt time.Time
	ID        string
}

// EncodeInboxCursor returns the opaque cursor of the messages after m in
// its inbox; every InboxStore adapter issues the same cursors.
func EncodeInboxCursor(m domain.InboxMessage) string {
	return base64.RawURLEncoding.EncodeToString([]byte(m.CreatedAt.UTC().Format(time.RFC3339Nano) + "\x00" + m.ID))
}

// DecodeInboxCursor returns the position cursor continues after, or
// ErrInvalidCursor for a cursor EncodeInboxCursor did not make.
func DecodeInboxCursor(cursor string) (InboxCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !utf8.Valid(raw) {
		return InboxCursor{}, ErrInvalidCursor
	}
	at, id, ok := strings.Cut(string(raw), "\x00")
	if !ok || !domain.ValidInboxMessageID(id) {
		return InboxCursor{}, ErrInvalidCursor
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return InboxCursor{}, ErrInvalidCursor
	}
	return InboxCursor{CreatedAt: t.UTC(), ID: id}, nil
}

// After reports whether m comes after c in an inbox's listing (newest
// first).
func (c InboxCursor) After(m domain.InboxMessage) bool {
	return m.Before(domain.InboxMessage{CreatedAt: c.CreatedAt, ID: c.ID})
}
