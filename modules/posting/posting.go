// Package posting is the public contract of the posting module: the
// commands it accepts and the events it publishes, with their versioned wire
// names. The module creates postings, resolves their template context and
// walks their audience page by page; its implementation lives below this
// package and depends on it, never the reverse.
package posting

import "time"

// Priority picks the delivery lane of a posting.
type Priority string

// The delivery lanes.
const (
	// PriorityTransactional is for single-recipient, urgent messages
	// (confirmation codes, welcome emails).
	PriorityTransactional Priority = "transactional"
	// PriorityBulk is for mailings.
	PriorityBulk Priority = "bulk"
)

// The channels a posting can be delivered on (the seed's delivery_type).
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	// ChannelInApp stores the message in the user's in-app inbox.
	ChannelInApp = "inapp"
	// ChannelWebhook POSTs the message, signed, to a URL: the posting's
	// WebhookURL, else the recipient's.
	ChannelWebhook = "webhook"
)

// The notification types of the brief's flows. Managers may use their own.
const (
	TypeWelcome           = "welcome"
	TypeEmailConfirmation = "email_confirmation"
	TypePhoneConfirmation = "phone_confirmation"
	TypeNewMovies         = "new_movies"
	TypeNewEpisode        = "new_episode"
	TypeReactions         = "reactions"
)

// CreatePosting asks for a new posting. It is idempotent on IdempotencyKey
// (when empty, on the request's fingerprint) for posting.idempotency_retention:
// a repeat of the same request leaves the existing posting as it is, and the
// same key with a different request is refused for good (the handler's
// error is permanent). After the retention the key is free again.
type CreatePosting struct {
	IdempotencyKey   string         `json:"idempotency_key"`
	FromEvent        string         `json:"from_event,omitempty"`
	FromService      string         `json:"from_service,omitempty"`
	NotificationType string         `json:"notification_type"`
	Receivers        string         `json:"receivers"`
	Template         string         `json:"template"`
	DeliveryType     []string       `json:"delivery_type"`
	TemplateContext  map[string]any `json:"template_context,omitempty"`
	Priority         Priority       `json:"priority,omitempty"`
	// ExpiresAt is when the posting goes stale; nil never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// SendAt schedules the posting; nil means now.
	SendAt *time.Time `json:"send_at,omitempty"`
	// WebhookURL, when set, is where the webhook channel POSTs every
	// recipient's message, in place of the URL of each user's directory
	// record.
	WebhookURL string `json:"webhook_url,omitempty"`
	// RequestFingerprint identifies the request as its sender received it,
	// for senders whose repeats of one request differ in a field derived at
	// receipt (the HTTP API turns a relative expires_in into ExpiresAt).
	// Empty, it is computed from the fields above.
	RequestFingerprint string `json:"request_fingerprint,omitempty"`
}

// Name returns the wire name.
func (CreatePosting) Name() string { return "posting.CreatePosting.v1" }

// RouteKey puts the command on its lane's topic: "transactional" for a
// transactional posting, "" (bulk) otherwise, a posting without a priority
// included (its lane is decided once it is created).
func (c CreatePosting) RouteKey() string { return c.Priority.route() }

// route is the topic route of a posting's messages on lane p.
func (p Priority) route() string {
	if p == PriorityTransactional {
		return string(PriorityTransactional)
	}
	return ""
}

// Recipient is one user of a posting with the contact fields the directory
// returned.
type Recipient struct {
	UserID    string `json:"user_id"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	Locale    string `json:"locale,omitempty"`
	Timezone  string `json:"timezone,omitempty"`
	// WebhookURL is the user's own URL for the webhook channel, from the
	// directory record's webhook_url.
	WebhookURL string `json:"webhook_url,omitempty"`
}

// AudienceBatchResolved carries one page of a posting's recipients, with
// everything the next hops need to deliver it (the template context is
// frozen at the first page).
type AudienceBatchResolved struct {
	PostingID        string         `json:"posting_id"`
	BatchNo          int            `json:"batch_no"`
	NotificationType string         `json:"notification_type"`
	Priority         Priority       `json:"priority"`
	Channels         []string       `json:"channels"`
	Template         string         `json:"template"`
	TemplateContext  map[string]any `json:"template_context,omitempty"`
	// TemplateContextRef, set instead of TemplateContext when the context
	// is too large to copy into every batch, is the claim check reference
	// (platform/claimcheck) under which it is stored once.
	TemplateContextRef string     `json:"template_context_ref,omitempty"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
	// WebhookURL, when set, is the posting's URL for the webhook channel:
	// every recipient's, in place of their own.
	WebhookURL string      `json:"webhook_url,omitempty"`
	Recipients []Recipient `json:"recipients"`
}

// Name returns the wire name.
func (AudienceBatchResolved) Name() string { return "posting.AudienceBatchResolved.v1" }

// PostingRef returns the posting the event is about, for its traces.
func (e AudienceBatchResolved) PostingRef() string { return e.PostingID }

// RouteKey puts the event on its posting's lane.
func (e AudienceBatchResolved) RouteKey() string { return e.Priority.route() }

// PostingCancelled says a posting was cancelled: nothing of it that is not
// sent yet may be sent.
type PostingCancelled struct {
	PostingID   string    `json:"posting_id"`
	CancelledAt time.Time `json:"cancelled_at"`
	// Priority is the posting's lane, so that the deliveries it cancels are
	// counted on it; empty in events of versions before it was added.
	Priority Priority `json:"priority,omitempty"`
}

// Name returns the wire name.
func (PostingCancelled) Name() string { return "posting.PostingCancelled.v1" }

// PostingRef returns the posting the event is about, for its traces.
func (e PostingCancelled) PostingRef() string { return e.PostingID }

// The final statuses of a posting, as PostingFinished reports them.
const (
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusExpired   = "expired"
	StatusCancelled = "cancelled"
)

// Counters is a posting's progress when it finished: Recipients counts the
// users its audience walk resolved, the others count (user, channel)
// deliveries by final status.
type Counters struct {
	Recipients int `json:"recipients"`
	Skipped    int `json:"skipped"`
	Sent       int `json:"sent"`
	Failed     int `json:"failed"`
	Expired    int `json:"expired"`
	Cancelled  int `json:"cancelled"`
}

// PostingFinished says a posting reached a final status (StatusCompleted,
// StatusFailed, StatusExpired or StatusCancelled); nothing more happens to
// it. It is published in the transaction that writes the status, once per
// posting; a handler that failed after writing it and is redelivered may
// publish it again, so consumers key on PostingID.
type PostingFinished struct {
	PostingID        string   `json:"posting_id"`
	Status           string   `json:"status"`
	NotificationType string   `json:"notification_type,omitempty"`
	FromEvent        string   `json:"from_event,omitempty"`
	Priority         Priority `json:"priority,omitempty"`
	// Error is the public reason of a failed posting.
	Error      string    `json:"error,omitempty"`
	Counters   Counters  `json:"counters"`
	FinishedAt time.Time `json:"finished_at"`
}

// Name returns the wire name.
func (PostingFinished) Name() string { return "posting.PostingFinished.v1" }

// RouteKey puts the event on its posting's lane.
func (e PostingFinished) RouteKey() string { return e.Priority.route() }

// PostingRef returns the posting the event is about, for its traces.
func (e PostingFinished) PostingRef() string { return e.PostingID }
