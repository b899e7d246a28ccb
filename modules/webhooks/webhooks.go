// Package webhooks is the public contract of the webhooks module: the event
// types an endpoint may subscribe to and the JSON bodies it receives. The
// module sends no command and publishes no event of its own: it watches
// delivery.DeliveryOutcomes and posting.PostingFinished, keeps one message
// per (endpoint, event) in its own outbox, and POSTs each to its endpoint,
// signed per the Standard Webhooks specification (headers webhook-id,
// webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256>"),
// retrying with backoff for up to webhooks.max_age. Its implementation
// lives below this package and depends on it, never the reverse.
package webhooks

import "time"

// The event types, the "type" of each body.
const (
	// EventDeliverySent: a delivery was accepted by the mail server or the
	// SMS gateway.
	EventDeliverySent = "delivery.sent"
	// EventDeliveryFailed: a delivery was refused for good, or every
	// attempt failed.
	EventDeliveryFailed = "delivery.failed"
	// EventDeliveryExpired: a delivery went stale before it could be sent.
	EventDeliveryExpired = "delivery.expired"
	// EventDeliverySkipped: a delivery was not sent (an opt-out, no
	// address, an address on the suppression list).
	EventDeliverySkipped = "delivery.skipped"
	// EventPostingCompleted: every delivery of a posting is final.
	EventPostingCompleted = "posting.completed"
	// EventPostingFailed: a posting could not be dispatched.
	EventPostingFailed = "posting.failed"
	// EventPostingExpired: a posting went stale before anything of it was
	// sent.
	EventPostingExpired = "posting.expired"
	// EventPostingCancelled: a posting was cancelled.
	EventPostingCancelled = "posting.cancelled"
)

// EventTypes lists every event type.
var EventTypes = []string{
	EventDeliverySent, EventDeliveryFailed, EventDeliveryExpired, EventDeliverySkipped,
	EventPostingCompleted, EventPostingFailed, EventPostingExpired, EventPostingCancelled,
}

// KnownEventType reports whether t is one of EventTypes.
func KnownEventType(t string) bool {
	for _, known := range EventTypes {
		if t == known {
			return true
		}
	}
	return false
}

// Payload is the body of every call, as the Standard Webhooks
// specification shapes it: the event type, when the event happened, and
// its data (DeliveryData or PostingData).
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// DeliveryData is the data of the delivery.* events: one (posting, user,
// channel) delivery that reached a final status. It never holds the
// address it was sent to.
type DeliveryData struct {
	PostingID string `json:"posting_id"`
	UserID    string `json:"user_id"`
	Channel   string `json:"channel"`
	// Status is "sent", "failed", "expired" or "skipped".
	Status string `json:"status"`
	// Error says why a delivery failed, expired or was skipped.
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
}

// PostingData is the data of the posting.* events: a posting that reached
// a final status.
type PostingData struct {
	PostingID string `json:"posting_id"`
	// Status is "completed", "failed", "expired" or "cancelled".
	Status           string `json:"status"`
	NotificationType string `json:"notification_type,omitempty"`
	// FromEvent is the key of the event the posting was made from.
	FromEvent string `json:"from_event,omitempty"`
	// Error is the public reason of a failed posting.
	Error    string    `json:"error,omitempty"`
	Counters Counters  `json:"counters"`
	At       time.Time `json:"at"`
}

// Counters is a posting's deliveries by final status when it finished.
type Counters struct {
	Recipients int `json:"recipients"`
	Sent       int `json:"sent"`
	Failed     int `json:"failed"`
	Expired    int `json:"expired"`
	Skipped    int `json:"skipped"`
	Cancelled  int `json:"cancelled"`
}
