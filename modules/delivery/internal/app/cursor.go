package app

import (
	"encoding/base64"
	"strings"
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
