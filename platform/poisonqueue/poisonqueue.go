// Package poisonqueue keeps the messages the router gave up on
// (messaging.PoisonTopic) for operators: a store filled by a handler of the
// poison topic, and the admin API of the console that lists them with
// their reasons, shows one, requeues it to the handler that refused it, or
// discards it.
//
// A poisoned message can hold emails and phone numbers: it is kept for the
// poison TTL (amqp.poison_ttl) from when it was poisoned, like the poison
// queues of the transports, and no list or log shows more of it than the
// admin API. The store holds one entry per message and handler that
// refused it (an event refused by two handlers is two entries), so that a
// requeue goes to one handler.
package poisonqueue

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"

	"github.com/notifier/notifier/platform/messaging"
)

// ErrNotFound is returned for an entry that is not in the store: never
// kept, requeued or discarded since, or past its retention.
var ErrNotFound = errors.New("poisoned message not found")

// ErrInvalidCursor is returned by Store.List for a cursor it did not issue.
var ErrInvalidCursor = errors.New("invalid cursor")

// InvalidInputError is bad input to a use case: Field names the input
// field (as the caller spells it, such as "cursor") and Message says what
// is wrong in words safe to show the caller.
type InvalidInputError struct {
	Field   string
	Message string
}

// Error returns "field: message".
func (e *InvalidInputError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) error {
	return &InvalidInputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ConflictError says why a poisoned message cannot be requeued, in words
// safe to show the caller: it is kept as it was.
type ConflictError struct{ Reason string }

// Error returns the reason.
func (e *ConflictError) Error() string { return e.Reason }

// Message is one poisoned message, as the handler that refused it got it.
type Message struct {
	// ID identifies the entry: EntryID of the message and the handler.
	ID string
	// MessageID is the Watermill message UUID (on RabbitMQ, the AMQP
	// message_id), which the log line of the poisoning names too.
	MessageID string
	// Topic is the topic the message came from, and where a requeue puts
	// it back.
	Topic string
	// Handler is the handler that refused it.
	Handler string
	// Reason is the error that made the handler give up.
	Reason string
	// Payload is the message body, as it was; List cuts it (see
	// Query.PayloadPrefix).
	Payload []byte
	// PayloadSize is the length of the whole payload.
	PayloadSize int
	// Metadata is the message's metadata, the poison queue's keys
	// included.
	Metadata map[string]string
	// PoisonedAt is when the router poisoned it; retention counts from it.
	PoisonedAt time.Time
}

// entryNamespace derives entry ids (UUID version 5) from a message and a
// handler.
var entryNamespace = uuid.MustParse("6b1c2f0e-9a57-4c8e-b1d4-3e0f5a7c9d21")

// EntryID returns the id of the entry of messageID refused by handler: the
// same pair always gives the same id, so a poisoned message seen twice
// (a redelivery) is one entry.
func EntryID(messageID, handler string) string {
	return uuid.NewSHA1(entryNamespace, []byte(messageID+"\x00"+handler)).String()
}

// ValidID reports whether id can be an entry id: a UUID in its usual
// form (36 characters, either case).
func ValidID(id string) bool {
	_, ok := canonicalID(id)
	return ok
}

// canonicalID returns id lowercased, as EntryID makes ids, if it is valid.
func canonicalID(id string) (string, bool) {
	if len(id) != 36 {
		return "", false
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// FromMessage returns the entry of a message of the poison topic. Its
// poisoning time is the router's stamp (messaging.PoisonedAtKey); for a
// message without one (poisoned by an older version, such as the history
// of the SQL transport's poison table, which the recorder reads from its
// start) it is the message's publication (messaging.PublishedAtKey) when
// that is earlier than now, else now: never later than the poisoning could
// be, so that retention never runs longer than the TTL. Text that a
// database could not keep (invalid UTF-8, NUL) is replaced by U+FFFD in
// the reason and the metadata; the payload stays as it is.
func FromMessage(msg *message.Message, now time.Time) Message {
	meta := make(map[string]string, len(msg.Metadata))
	for k, v := range msg.Metadata {
		meta[clean(k)] = clean(v)
	}
	handler := clean(msg.Metadata.Get(middleware.PoisonedHandlerKey))
	at := now
	if t, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(messaging.PoisonedAtKey)); err == nil {
		at = t
	} else if t, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(messaging.PublishedAtKey)); err == nil && t.Before(now) {
		at = t
	}
	return Message{
		ID:          EntryID(msg.UUID, handler),
		MessageID:   clean(msg.UUID),
		Topic:       clean(msg.Metadata.Get(middleware.PoisonedTopicKey)),
		Handler:     handler,
		Reason:      clean(msg.Metadata.Get(middleware.ReasonForPoisonedKey)),
		Payload:     msg.Payload,
		PayloadSize: len(msg.Payload),
		Metadata:    meta,
		PoisonedAt:  at.UTC(),
	}
}

// clean makes s valid UTF-8 without NUL bytes.
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Preview returns the first max bytes of payload (or fewer, to end on a
// whole character) as one line of text: printable characters as they are,
// a backslash doubled, tab, newline and carriage return as \t \n \r, any
// other control character or byte that is not UTF-8 as \xNN. truncated
// says the payload is longer.
func Preview(payload []byte, max int) (text string, truncated bool) {
	cut := payload
	if len(cut) > max {
		cut, truncated = cut[:max], true
		// Do not split the last character when it is whole in payload.
		for i := 1; i < utf8.UTFMax && i <= len(cut); i++ {
			if r, size := utf8.DecodeRune(payload[len(cut)-i:]); r != utf8.RuneError && size > i {
				cut = cut[:len(cut)-i]
				break
			}
		}
	}
	var b strings.Builder
	b.Grow(len(cut) + len(cut)/8)
	for len(cut) > 0 {
		r, size := utf8.DecodeRune(cut)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, cut[0])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			for _, c := range cut[:size] {
				fmt.Fprintf(&b, `\x%02x`, c)
			}
		}
		cut = cut[size:]
	}
	return b.String(), truncated
}
