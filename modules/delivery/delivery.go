// Package delivery is the public contract of the delivery module: the
// DeliverBatch command it accepts and the DeliveryOutcomes event it
// publishes. The module renders templates, sends through channel adapters
// (SMTP, SMS gateway, capture), retries transient failures, refuses what is
// stale and records one row per (posting, user, channel).
package delivery

import "time"

// The delivery lanes: separate topics and workers, so that a mailing never
// delays a confirmation code.
const (
	LaneTransactional = "transactional"
	LaneBulk          = "bulk"
)

// The statuses of one delivery.
const (
	StatusPending   = "pending"
	StatusSent      = "sent"
	StatusFailed    = "failed"
	StatusExpired   = "expired"
	StatusSkipped   = "skipped"
	StatusCancelled = "cancelled"
)

// Recipient is the addressee of one delivery.
type Recipient struct {
	UserID    string `json:"user_id"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	Locale    string `json:"locale,omitempty"`
	Timezone  string `json:"timezone,omitempty"`
	// WebhookURL is the recipient's own address on the webhook channel
	// (the directory record's webhook_url); DeliverBatch.WebhookURL, when
	// set, stands for it.
	WebhookURL string `json:"webhook_url,omitempty"`
}

// Item is one (recipient, channel) pair to deliver.
type Item struct {
	Channel   string    `json:"channel"`
	Recipient Recipient `json:"recipient"`
	// QuietHours, when set, is the recipient's quiet window: a send that
	// falls in it waits until it ends (or expires first). Set by
	// preferences for bulk, non-mandatory types only.
	QuietHours *QuietHours `json:"quiet_hours,omitempty"`
}

// QuietHours is a daily window of local time ("22:00" to "08:00") read in
// Zone, an IANA time zone.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
	Zone  string `json:"zone"`
}

// SkippedItem is a (user, channel) pair that will not be delivered, with
// why (an opt-out, no address on file).
type SkippedItem struct {
	UserID  string `json:"user_id"`
	Channel string `json:"channel"`
	Reason  string `json:"reason"`
}

// DeliverBatch asks the delivery module to deliver a batch of a posting.
// It is idempotent: what is already delivered is not sent again.
type DeliverBatch struct {
	PostingID        string         `json:"posting_id"`
	BatchNo          int            `json:"batch_no"`
	Lane             string         `json:"lane"`
	NotificationType string         `json:"notification_type"`
	Template         string         `json:"template"`
	TemplateContext  map[string]any `json:"template_context,omitempty"`
	// TemplateContextRef, set instead of TemplateContext when the context
	// is too large to copy into every batch, is the claim check reference
	// (platform/claimcheck) under which it is stored once.
	TemplateContextRef string     `json:"template_context_ref,omitempty"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
	// Unsubscribe says the type is not mandatory: its emails carry a
	// one-click unsubscribe link (List-Unsubscribe, RFC 8058) that turns
	// the type off on email for the recipient. Set by preferences.
	Unsubscribe bool `json:"unsubscribe,omitempty"`
	// WebhookURL, when set, is the posting's URL for the webhook channel:
	// the address of every webhook item, in place of the recipient's own
	// (sent once a batch, not in every item).
	WebhookURL string        `json:"webhook_url,omitempty"`
	Items      []Item        `json:"items"`
	Skipped    []SkippedItem `json:"skipped,omitempty"`
	// Digest, when set, makes the batch the sending of a digest the
	// module held (see DigestRef): its items and context come from the
	// held parts, not from the command. Only the delivery module sends
	// such batches, to itself.
	Digest *DigestRef `json:"digest,omitempty"`
}

// DigestRef names a closed digest: the deliveries of one notification
// type for one user and channel, held (delivery.digests) and sent as one
// message listing them. PostingID of its batch is DigestPostingID(ID).
type DigestRef struct {
	ID string `json:"id"`
}

// DigestPostingPrefix starts the posting id of a digest's own delivery
// row ("digest:" and the digest's id): the row of the one message that
// carries the held deliveries, which end with its status.
const DigestPostingPrefix = "digest:"

// DigestPostingID returns the posting id of the delivery row of digest id.
func DigestPostingID(id string) string { return DigestPostingPrefix + id }

// Name returns the wire name.
func (DeliverBatch) Name() string { return "delivery.DeliverBatch.v1" }

// PostingRef returns the posting the command is about, for its traces.
func (c DeliverBatch) PostingRef() string { return c.PostingID }

// RouteKey puts the command on its lane's topic.
func (c DeliverBatch) RouteKey() string {
	if c.Lane == LaneTransactional {
		return LaneTransactional
	}
	return LaneBulk
}

// Outcome is the final status of one (user, channel) delivery.
type Outcome struct {
	UserID  string    `json:"user_id"`
	Channel string    `json:"channel"`
	Status  string    `json:"status"`
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at"`
}

// DeliveryOutcomes reports deliveries that reached a final status
// (sent, failed, expired, skipped, cancelled). Each (posting, user, channel)
// is reported once.
type DeliveryOutcomes struct {
	PostingID string    `json:"posting_id"`
	Outcomes  []Outcome `json:"outcomes"`
	// Lane is the lane of the posting's deliveries; empty (bulk) in
	// events of versions before it was added.
	Lane string `json:"lane,omitempty"`
}

// Name returns the wire name.
func (DeliveryOutcomes) Name() string { return "delivery.DeliveryOutcomes.v1" }

// PostingRef returns the posting the event is about, for its traces.
func (e DeliveryOutcomes) PostingRef() string { return e.PostingID }

// RouteKey puts the event on its lane's topic: "transactional" for the
// transactional lane, "" (bulk) otherwise.
func (e DeliveryOutcomes) RouteKey() string {
	if e.Lane == LaneTransactional {
		return LaneTransactional
	}
	return ""
}
