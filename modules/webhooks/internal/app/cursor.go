package app

import (
	"encoding/base64"
	"strconv"
)

// EncodeAttemptsCursor returns the opaque cursor of an endpoint's
// attempts before the one numbered seq; every Store issues the same.
func EncodeAttemptsCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a" + strconv.FormatInt(seq, 10)))
}

// DecodeAttemptsCursor returns the seq a cursor continues before, or
// ErrInvalidCursor for one EncodeAttemptsCursor did not make.
func DecodeAttemptsCursor(cursor string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < 2 || raw[0] != 'a' {
		return 0, ErrInvalidCursor
	}
	seq, err := strconv.ParseInt(string(raw[1:]), 10, 64)
	if err != nil || seq < 1 {
		return 0, ErrInvalidCursor
	}
	return seq, nil
}
