package app

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// EncodeCursor returns the opaque cursor of the rows after k in a posting's
// listing; every Store adapter issues the same cursors.
func EncodeCursor(k domain.Key) string {
	return base64.RawURLEncoding.EncodeToString([]byte(k.UserID + "\x00" + k.Channel))
}

// DecodeCursor returns the key of postingID that cursor continues after, or
// ErrInvalidCursor for a cursor EncodeCursor did not make.
func DecodeCursor(postingID, cursor string) (domain.Key, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return domain.Key{}, ErrInvalidCursor
	}
	user, channel, ok := strings.Cut(string(raw), "\x00")
	if !ok || user == "" || channel == "" || strings.ContainsRune(channel, 0) || !utf8.Valid(raw) {
		return domain.Key{}, ErrInvalidCursor
	}
	return domain.Key{PostingID: postingID, UserID: user, Channel: channel}, nil
}

// UserCursor is the position a page of a user's deliveries ends at: the
// last row's creation time, posting and channel (the user's rows are
// ordered by them, descending).
type UserCursor struct {
	CreatedAt time.Time
	PostingID string
	Channel   string
}

// EncodeUserCursor returns the opaque cursor of the rows after d in its
// user's listing; every Store adapter issues the same cursors.
func EncodeUserCursor(d domain.Delivery) string {
	raw := d.CreatedAt.UTC().Format(time.RFC3339Nano) + "\x00" + d.PostingID + "\x00" + d.Channel
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeUserCursor returns the position cursor continues after, or
// ErrInvalidCursor for a cursor EncodeUserCursor did not make.
func DecodeUserCursor(cursor string) (UserCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !utf8.Valid(raw) {
		return UserCursor{}, ErrInvalidCursor
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return UserCursor{}, ErrInvalidCursor
	}
	at, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		return UserCursor{}, ErrInvalidCursor
	}
	return UserCursor{CreatedAt: at.UTC(), PostingID: parts[1], Channel: parts[2]}, nil
}

// After reports whether d comes after c in a user's listing (newest first:
// an older creation time, then a lower posting id, then a lower channel,
// byte by byte as PostgreSQL compares COLLATE "C").
func (c UserCursor) After(d domain.Delivery) bool {
	if !d.CreatedAt.Equal(c.CreatedAt) {
		return d.CreatedAt.Before(c.CreatedAt)
	}
	if d.PostingID != c.PostingID {
		return d.PostingID < c.PostingID
	}
	return d.Channel < c.Channel
}
