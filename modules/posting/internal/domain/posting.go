// Package domain holds the posting entity, its life cycle and the store
// contract. It knows nothing of transports, HTTP or upstream services.
package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/posting"
)

// Status is where a posting is in its life cycle.
type Status string

// The statuses of a posting.
const (
	// StatusAccepted is a stored posting whose audience walk has not started.
	StatusAccepted Status = "accepted"
	// StatusScheduled is a posting waiting for its send_at.
	StatusScheduled Status = "scheduled"
	// StatusDispatching is a posting whose context is frozen and whose
	// audience is being walked or delivered.
	StatusDispatching Status = "dispatching"
	// StatusCompleted is a posting whose every (recipient, channel) delivery
	// reached a final status.
	StatusCompleted Status = "completed"
	// StatusCancelled is a posting cancelled before it completed.
	StatusCancelled Status = "cancelled"
	// StatusExpired is a posting that went stale before anything of it was sent.
	StatusExpired Status = "expired"
	// StatusFailed is a posting that could not be dispatched (see Posting.Error).
	StatusFailed Status = "failed"
)

// Statuses lists every status, in life-cycle order.
var Statuses = []Status{
	StatusAccepted, StatusScheduled, StatusDispatching,
	StatusCompleted, StatusCancelled, StatusExpired, StatusFailed,
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, known := range Statuses {
		if s == known {
			return true
		}
	}
	return false
}

// Terminal reports whether nothing more happens to a posting in status s.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusCancelled, StatusExpired, StatusFailed:
		return true
	default:
		return false
	}
}

// ErrStalePage is returned by RecordPage for a page that is not the next
// one of the walk: it was recorded already.
var ErrStalePage = errors.New("page already recorded")

// ErrNotCancellable is returned by Cancel for a posting already in a
// terminal status.
var ErrNotCancellable = errors.New("posting is already finished")

// Counters is a posting's progress: Recipients counts the users its audience
// walk resolved; the others count (user, channel) deliveries by final status.
type Counters struct {
	Recipients int
	Skipped    int
	Sent       int
	Failed     int
	Expired    int
	Cancelled  int
}

// finished returns the number of deliveries that reached a final status.
func (c Counters) finished() int {
	return c.Skipped + c.Sent + c.Failed + c.Expired + c.Cancelled
}

// Posting is one notification job: who (Receivers, walked page by page),
// what (Template on Channels with a template context) and until when.
type Posting struct {
	ID uuid.UUID
	// IdempotencyKey is the key the posting was made with; it answers with
	// the posting only until it expires (see Store.Create).
	IdempotencyKey string
	// RequestFingerprint is Request.Fingerprint of the request that made
	// the posting ("" for postings older than fingerprints).
	RequestFingerprint string
	FromEvent          string
	FromService        string
	NotificationType   string
	Receivers          string
	Template           string
	Channels           []string
	// WebhookURL, when set, is the address of every recipient on the
	// webhook channel, in place of their own; it never changes.
	WebhookURL string
	// TemplateContext is the context as the caller gave it.
	TemplateContext map[string]any
	// ResolvedContext is TemplateContext with its URLs fetched; frozen once
	// ContextResolved is set.
	ResolvedContext map[string]any
	ContextResolved bool
	Priority        posting.Priority
	ExpiresAt       *time.Time
	SendAt          *time.Time
	Status          Status
	// NextPage is the next directory page to fetch, from 1.
	NextPage int
	// WalkDone is set once the last directory page was recorded.
	WalkDone bool
	// WalkPaused is set while the walk waits for delivery outcomes before
	// asking for page NextPage (see PauseWalkIfAhead and ResumeWalk).
	WalkPaused  bool
	Counters    Counters
	Error       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
}

// Spec is what a new posting is made of, already validated.
type Spec struct {
	IdempotencyKey     string
	RequestFingerprint string
	FromEvent          string
	FromService        string
	NotificationType   string
	Receivers          string
	Template           string
	Channels           []string
	WebhookURL         string
	TemplateContext    map[string]any
	Priority           posting.Priority
	ExpiresAt          *time.Time
	SendAt             *time.Time
}

// New returns a posting made from spec at now: expired when it is already
// past its ExpiresAt, scheduled when its SendAt is in the future, accepted
// otherwise.
func New(id uuid.UUID, spec Spec, now time.Time) Posting {
	p := Posting{
		ID:                 id,
		IdempotencyKey:     spec.IdempotencyKey,
		RequestFingerprint: spec.RequestFingerprint,
		FromEvent:          spec.FromEvent,
		FromService:        spec.FromService,
		NotificationType:   spec.NotificationType,
		Receivers:          spec.Receivers,
		Template:           spec.Template,
		Channels:           append([]string(nil), spec.Channels...),
		WebhookURL:         spec.WebhookURL,
		TemplateContext:    spec.TemplateContext,
		Priority:           spec.Priority,
		ExpiresAt:          utcPtr(spec.ExpiresAt),
		SendAt:             utcPtr(spec.SendAt),
		Status:             StatusAccepted,
		NextPage:           1,
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	switch {
	case p.ExpiredAt(now):
		p.finish(StatusExpired, now)
	case p.SendAt != nil && p.SendAt.After(now):
		p.Status = StatusScheduled
	}
	return p
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ExpiredAt reports whether the posting is stale at now.
func (p *Posting) ExpiredAt(now time.Time) bool {
	return p.ExpiresAt != nil && !now.Before(*p.ExpiresAt)
}

// Expire marks the posting expired, unless it is already finished.
func (p *Posting) Expire(now time.Time) {
	if !p.Status.Terminal() {
		p.finish(StatusExpired, now)
	}
}

// Fail marks the posting failed with a public reason, unless it is already
// finished.
func (p *Posting) Fail(reason string, now time.Time) {
	if !p.Status.Terminal() {
		p.Error = reason
		p.finish(StatusFailed, now)
	}
}

// Cancel marks the posting cancelled. It returns ErrNotCancellable when the
// posting is already finished.
func (p *Posting) Cancel(now time.Time) error {
	if p.Status.Terminal() {
		return fmt.Errorf("%w (%s)", ErrNotCancellable, p.Status)
	}
	p.finish(StatusCancelled, now)
	return nil
}

// Release turns a scheduled posting into an accepted one, ready for its
// audience walk. It reports false when the posting is not scheduled.
func (p *Posting) Release(now time.Time) bool {
	if p.Status != StatusScheduled {
		return false
	}
	p.Status = StatusAccepted
	p.UpdatedAt = now
	return true
}

// FreezeContext records the resolved template context and starts the
// dispatch. A context frozen before is kept as it is.
func (p *Posting) FreezeContext(resolved map[string]any, now time.Time) {
	if p.ContextResolved {
		return
	}
	p.ResolvedContext = resolved
	p.ContextResolved = true
	if p.Status == StatusAccepted {
		p.Status = StatusDispatching
	}
	p.UpdatedAt = now
}

// RecordPage records that directory page NextPage yielded n recipients and
// whether it was the last, then settles the posting. It returns
// ErrStalePage when page is not the next page to record.
func (p *Posting) RecordPage(page, n int, last bool, now time.Time) error {
	if page != p.NextPage || p.WalkDone {
		return fmt.Errorf("%w: page %d, next page %d", ErrStalePage, page, p.NextPage)
	}
	p.Counters.Recipients += n
	p.NextPage = page + 1
	p.WalkDone = last
	p.UpdatedAt = now
	p.Settle(now)
	return nil
}

// AddOutcomes adds final delivery statuses to the counters, then settles
// the posting.
func (p *Posting) AddOutcomes(delta Counters, now time.Time) {
	p.Counters.Skipped += delta.Skipped
	p.Counters.Sent += delta.Sent
	p.Counters.Failed += delta.Failed
	p.Counters.Expired += delta.Expired
	p.Counters.Cancelled += delta.Cancelled
	p.UpdatedAt = now
	p.Settle(now)
}

// Outstanding returns the (recipient, channel) deliveries the walk
// resolved that have no final outcome yet.
func (p Posting) Outstanding() int {
	return p.Counters.Recipients*len(p.Channels) - p.Counters.finished()
}

// PauseWalkIfAhead is the flow control of the audience walk, called after
// a page is recorded. The window is counted in deliveries: maxAhead
// recipients on each of the posting's channels. When the walk goes on and
// one more page of pageSize users would take the outstanding deliveries
// above the window, it sets WalkPaused and reports true: the caller does
// not ask for the next page, and ResumeWalk will. So, with pageSize at or
// below maxAhead, no more than maxAhead recipients per channel are ever
// resolved but not delivered. A maxAhead below 1 disables the window.
func (p *Posting) PauseWalkIfAhead(maxAhead, pageSize int) bool {
	if maxAhead < 1 || p.WalkDone || p.Status.Terminal() {
		return false
	}
	if p.Outstanding()+pageSize*len(p.Channels) <= maxAhead*len(p.Channels) {
		return false
	}
	p.WalkPaused = true
	return true
}

// ResumeWalk clears WalkPaused and reports true when the walk is paused
// and the outstanding deliveries have fallen to half the window or below
// (the hysteresis keeps a walk from resuming for every outcome batch): the
// caller then asks for page NextPage. A finished posting never resumes.
func (p *Posting) ResumeWalk(maxAhead int, now time.Time) bool {
	if !p.WalkPaused || p.WalkDone || p.Status.Terminal() {
		return false
	}
	if maxAhead >= 1 && p.Outstanding() > maxAhead*len(p.Channels)/2 {
		return false
	}
	p.WalkPaused = false
	p.UpdatedAt = now
	return true
}

// Settle completes a dispatching posting whose walk is done and whose every
// (recipient, channel) delivery is final: completed, or expired when
// nothing was sent and something expired. It leaves any other posting as
// it is. RecordPage and AddOutcomes settle on their own; Settle is for a
// store that changed the counters itself.
func (p *Posting) Settle(now time.Time) {
	if p.Status != StatusDispatching && p.Status != StatusAccepted {
		return
	}
	if !p.WalkDone || p.Counters.finished() < p.Counters.Recipients*len(p.Channels) {
		return
	}
	if p.Counters.Sent == 0 && p.Counters.Expired > 0 {
		p.finish(StatusExpired, now)
		return
	}
	p.finish(StatusCompleted, now)
}

func (p *Posting) finish(s Status, now time.Time) {
	p.Status = s
	p.UpdatedAt = now
	at := now
	p.CompletedAt = &at
}
