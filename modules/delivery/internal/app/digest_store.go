package app

import (
	"context"
	"time"

	"github.com/notifier/notifier/modules/delivery"
)

// DigestKey names the digest a delivery joins: one user, one notification
// type, one channel. At most one digest of a key is open at a time.
type DigestKey struct {
	UserID  string
	Type    string
	Channel string
}

// Digest is a digest the store keeps: open while it takes parts, closed
// once it was due and its sending batch was sent.
type Digest struct {
	ID  string
	Key DigestKey
	// Lane is the lane of the parts, and of the digest's batch.
	Lane      string
	DueAt     time.Time
	CreatedAt time.Time
	// ClosedAt is zero while the digest is open.
	ClosedAt time.Time
}

// OpenDigest is an open digest and how many parts it holds.
type OpenDigest struct {
	Digest
	Parts int
}

// DigestPart is one delivery held for a digest: what the batch it came in
// said about it. Its delivery row (PostingID, the digest's user and
// channel) stays pending until the digest's message ends.
type DigestPart struct {
	PostingID  string               `json:"posting_id"`
	Recipient  delivery.Recipient   `json:"recipient"`
	QuietHours *delivery.QuietHours `json:"quiet_hours,omitempty"`
	// Unsubscribe is DeliverBatch.Unsubscribe of the part's batch.
	Unsubscribe bool `json:"unsubscribe,omitempty"`
	// WebhookURL is DeliverBatch.WebhookURL of the part's batch (the
	// posting's URL for the webhook channel).
	WebhookURL string `json:"webhook_url,omitempty"`
	// Template is the template of the part's batch.
	Template string `json:"template,omitempty"`
	// Context is the part's template context; ContextRef replaces it when
	// the batch carried a claim check reference (read again at sending).
	Context    map[string]any `json:"context,omitempty"`
	ContextRef string         `json:"context_ref,omitempty"`
	ExpiresAt  *time.Time     `json:"expires_at,omitempty"`
	AddedAt    time.Time      `json:"added_at"`
}

// HeldPart is a part to hold: the digest it joins, and when that digest is
// due if the part opens it.
type HeldPart struct {
	Key  DigestKey
	Lane string
	// Due is when a digest this part opens goes; a digest already open
	// keeps its own.
	Due  time.Time
	Part DigestPart
}

// DigestStore keeps digests and their parts (PostgreSQL outside memory
// mode), so that held deliveries survive a restart and no memory or
// worker is held while they wait.
type DigestStore interface {
	// Hold adds each part to the open digest of its key, opening one (due
	// at its Due) when there is none. A part already held — the same
	// posting, user and channel, in any digest — is left as it is, so a
	// redelivered batch adds nothing. It never adds a part to a digest that
	// is closing: a part arriving then opens the next digest.
	Hold(ctx context.Context, parts []HeldPart) error
	// Due closes up to limit open digests due at or before now, earliest
	// first, and passes them to send; they stay closed once send returns
	// nil (in one transaction with what send wrote, where the store has
	// them), and are open again otherwise. Concurrent callers get
	// different digests. It returns how many were closed.
	Due(ctx context.Context, now time.Time, limit int, send func(ctx context.Context, due []Digest) error) (int, error)
	// Load returns the digest of id and its parts, oldest first; false
	// when there is no such digest (never was, or purged).
	Load(ctx context.Context, id string) (Digest, []DigestPart, bool, error)
	// OpenOf returns the open digests of a user, soonest due first, with
	// how many parts each holds.
	OpenOf(ctx context.Context, userID string) ([]OpenDigest, error)
	// Purge forgets the digests closed before before, with their parts,
	// and returns how many.
	Purge(ctx context.Context, before time.Time) (int, error)
}
