package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"unicode"
)

// MaxIDLength is the longest event_id or message_id used as an event key.
const MaxIDLength = 256

// EventKey returns the key that identifies an event across redeliveries and
// transports (DESIGN §4): the event's event_id, else messageID (the AMQP
// message_id), else the SHA-256 hex digest of the payload. An event_id or
// message_id that is not a usable identifier (see DecodeEvent) is skipped.
// The consumer and the HTTP port both use it, so an event gets the same key
// whichever way it arrives.
func EventKey(payload []byte, messageID string) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(payload, &top) == nil {
		var id string
		if raw, ok := top[fieldEventID]; ok && json.Unmarshal(raw, &id) == nil && validID(id) == "" {
			return id
		}
	}
	return UnreadEventKey(payload, messageID)
}

// UnreadEventKey returns the key of an event whose payload is not to be
// read, being over the intake's cap (see CheckSize): messageID when it is
// usable, else the SHA-256 hex digest of the payload. Its event_id is not
// looked for.
func UnreadEventKey(payload []byte, messageID string) string {
	if validID(messageID) == "" {
		return messageID
	}
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}

// validID returns why id cannot be an event key, or "" when it can.
func validID(id string) string {
	switch {
	case strings.TrimSpace(id) == "":
		return "must not be blank"
	case len(id) > MaxIDLength:
		return "must be at most 256 bytes long"
	case strings.IndexFunc(id, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0:
		return "must not contain control characters"
	}
	return ""
}
