package domain

import (
	"regexp"
	"time"
)

// InboxMessage is one message of a user's in-app inbox: what the inapp
// channel delivers. Its ID is the delivery key's digest (Key.IdempotencyKey),
// so a redelivered batch cannot store a message twice.
type InboxMessage struct {
	ID               string
	UserID           string
	PostingID        string
	NotificationType string
	// Title is the rendered subject of the in-app template, on one line.
	Title string
	// Body is the rendered Markdown of the template; the app renders it.
	Body      string
	CreatedAt time.Time
	// ReadAt is when the user first marked it read; zero while unread.
	ReadAt time.Time
	// ExpiresAt is the posting's expiry, nil when it has none: past it the
	// message is no longer listed, and it is swept.
	ExpiresAt *time.Time
}

// Read reports whether the user marked m read.
func (m InboxMessage) Read() bool { return !m.ReadAt.IsZero() }

// Expired reports whether m is past its expiry at now.
func (m InboxMessage) Expired(now time.Time) bool {
	return m.ExpiresAt != nil && !now.Before(*m.ExpiresAt)
}

// Before reports whether m sorts before o in an inbox's order of arrival:
// an earlier creation time, then a lower id.
func (m InboxMessage) Before(o InboxMessage) bool {
	if !m.CreatedAt.Equal(o.CreatedAt) {
		return m.CreatedAt.Before(o.CreatedAt)
	}
	return m.ID < o.ID
}

var inboxMessageIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidInboxMessageID reports whether id is well formed: 32 lowercase hex
// digits, as Key.IdempotencyKey makes them.
func ValidInboxMessageID(id string) bool { return inboxMessageIDPattern.MatchString(id) }
