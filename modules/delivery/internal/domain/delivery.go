// Package domain holds the delivery module's core types: a delivery, the key
// that makes it unique, its statuses and what derives from the key.
package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/notifier/notifier/modules/delivery"
)

// Key identifies one delivery: a posting, a user and a channel. It is unique
// in storage, so a redelivered batch cannot make a second delivery.
type Key struct {
	PostingID string
	UserID    string
	Channel   string
}

// Valid reports whether every part of k is set and none holds a NUL byte
// (the separator of MessageID's digest and of list cursors).
func (k Key) Valid() bool {
	for _, part := range []string{k.PostingID, k.UserID, k.Channel} {
		if part == "" || strings.ContainsRune(part, 0) {
			return false
		}
	}
	return true
}

// digest is the hex SHA-256 of the key, truncated to 32 characters. The
// parts are separated by a NUL byte, which none of them may contain.
func (k Key) digest() string {
	sum := sha256.Sum256([]byte(k.PostingID + "\x00" + k.UserID + "\x00" + k.Channel))
	return hex.EncodeToString(sum[:])[:32]
}

// MessageID returns the deterministic message id of the delivery, such as
// "3f1c…@notifier" (the email Message-ID without its angle brackets): a
// message sent twice after a crash carries the same id, so receivers can
// drop the copy.
func (k Key) MessageID() string { return k.digest() + "@notifier" }

// IdempotencyKey returns the key gateways use to drop a repeated request for
// the same delivery.
func (k Key) IdempotencyKey() string { return k.digest() }

// Delivery is the stored state of one (posting, user, channel) delivery.
type Delivery struct {
	Key
	// Status is one of the delivery.Status* constants.
	Status string
	// Attempts counts the sends tried so far.
	Attempts int
	// Error is the last error or the reason of a final status, in public
	// words: it never holds an address or the message content.
	Error string
	// MessageID is the id the message was sent with; empty until sent.
	MessageID string
	// Provider names the provider of the channel that sent the message
	// (an SMTP server, an SMS gateway, "capture"); empty until sent.
	Provider  string
	CreatedAt time.Time
	UpdatedAt time.Time
	// SentAt is when the message was accepted by the channel; zero until sent.
	SentAt time.Time
	// Reported is true once the final status was published in a
	// delivery.DeliveryOutcomes event; a pending row is never reported.
	Reported bool
}

// IsFinal reports whether status ends a delivery: only pending is not final.
func IsFinal(status string) bool {
	switch status {
	case delivery.StatusSent, delivery.StatusFailed, delivery.StatusExpired,
		delivery.StatusSkipped, delivery.StatusCancelled:
		return true
	default:
		return false
	}
}

// ValidStatus reports whether status is a known delivery status.
func ValidStatus(status string) bool { return status == delivery.StatusPending || IsFinal(status) }

// Outcome returns the outcome reported for a delivery that became final.
func (d Delivery) Outcome() delivery.Outcome {
	return delivery.Outcome{UserID: d.UserID, Channel: d.Channel, Status: d.Status, Error: d.Error, At: d.UpdatedAt}
}

// The channels the module knows addresses for.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	// ChannelInApp is the in-app inbox; its address is the user id.
	ChannelInApp = "inapp"
	// ChannelWebhook POSTs the message as JSON to the recipient's webhook
	// URL; its address is that URL.
	ChannelWebhook = "webhook"
)
