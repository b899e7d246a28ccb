package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// FollowInbox asks for the messages of a user's inbox as they arrive (the
// inbox stream).
type FollowInbox struct {
	UserID string
	// LastEventID is the id of the last message the client received, from
	// an earlier stream; empty starts with the messages that arrive next.
	LastEventID string
}

// InboxSink receives what a followed inbox does. Its methods are called
// from the goroutine running Handle, one at a time; an error from either
// ends the stream (the client went away).
type InboxSink interface {
	// Message sends one new message.
	Message(m domain.InboxMessage) error
	// Idle is called after each look at the store that found nothing new.
	Idle() error
}

// Timing of FollowInboxHandler.
const (
	// InboxPollInterval is how often a stream looks at the store when the
	// hub says nothing: how late a message stored by another instance may
	// arrive.
	InboxPollInterval = time.Second
	// inboxOverlap is how far before the newest message sent a stream
	// looks again, so that a message stored by another instance whose
	// clock is a little behind, or whose transaction commits late, is
	// still sent; the ids already sent are skipped.
	inboxOverlap = 10 * time.Second
	// inboxPage is how many messages one look reads at most.
	inboxPage = 500
)

// FollowInboxHandler answers FollowInbox.
type FollowInboxHandler struct {
	store InboxStore
	hub   *InboxHub
	clock clock.Clock
	poll  time.Duration
}

// NewFollowInboxHandler returns the handler, looking at the store every
// poll (InboxPollInterval when zero) and whenever hub says the user's inbox
// changed; store, hub and clock are required.
func NewFollowInboxHandler(store InboxStore, hub *InboxHub, clk clock.Clock, poll time.Duration) (*FollowInboxHandler, error) {
	if store == nil || hub == nil || clk == nil {
		return nil, errors.New("new follow inbox handler: store, hub and clock are required")
	}
	if poll <= 0 {
		poll = InboxPollInterval
	}
	return &FollowInboxHandler{store: store, hub: hub, clock: clk, poll: poll}, nil
}

// Validate returns an *InvalidInputError naming "user_id" or
// "Last-Event-ID" when q is malformed, so that a caller can refuse it
// before it starts streaming.
func (h *FollowInboxHandler) Validate(q FollowInbox) error {
	if !userIDPattern.MatchString(q.UserID) {
		return invalid("user_id", "must be 1 to 128 of A-Z a-z 0-9 _ . : -")
	}
	if q.LastEventID != "" && !domain.ValidInboxMessageID(q.LastEventID) {
		return invalid("Last-Event-ID", "must be the id of an inbox message (32 lowercase hex digits)")
	}
	return nil
}

// Handle sends sink each message of the user's inbox that arrives, in
// order of arrival, until ctx ends (then it returns nil) or sink fails.
// With a LastEventID it first sends the messages that arrived after that
// one; an id the inbox does not hold (any more) is ignored. It returns
// Validate's errors for bad input.
func (h *FollowInboxHandler) Handle(ctx context.Context, q FollowInbox, sink InboxSink) error {
	if err := h.Validate(q); err != nil {
		return err
	}
	wake, stop := h.hub.Subscribe(q.UserID)
	defer stop()

	f := follower{store: h.store, userID: q.UserID, seen: map[string]time.Time{}}
	now := h.clock.Now()
	last := domain.InboxMessage{CreatedAt: now, ID: "\U0010FFFF"} // after any message stored until now
	if q.LastEventID != "" {
		m, err := h.store.Get(ctx, q.UserID, q.LastEventID, now)
		switch {
		case err == nil:
			last = m
		case !errors.Is(err, ErrInboxMessageNotFound):
			return fmt.Errorf("follow inbox: %w", err)
		}
	}
	f.watermark = last.CreatedAt
	// What sorts up to last was sent before (or arrived before the stream).
	if err := f.look(ctx, now, func(m domain.InboxMessage) bool { return last.Before(m) }, sink); err != nil {
		return err
	}

	ticker := time.NewTicker(h.poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-ticker.C:
		}
		if err := f.look(ctx, h.clock.Now(), nil, sink); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// follower is the state of one stream: what it sent lately.
type follower struct {
	store  InboxStore
	userID string
	// watermark is the creation time of the newest message sent (or where
	// the stream started).
	watermark time.Time
	// seen holds the ids sent (or skipped) from inboxOverlap before the
	// watermark on, with their creation times.
	seen map[string]time.Time
}

// look reads the messages from inboxOverlap before the watermark on and
// sends those not seen yet that send accepts (all when nil); the others
// are only marked seen. It calls sink.Idle when it sent nothing.
func (f *follower) look(ctx context.Context, now time.Time, send func(domain.InboxMessage) bool, sink InboxSink) error {
	from := f.watermark.Add(-inboxOverlap)
	sent := 0
	for {
		msgs, err := f.store.Since(ctx, f.userID, from, now, inboxPage)
		if err != nil {
			return fmt.Errorf("follow inbox: %w", err)
		}
		for _, m := range msgs {
			if _, ok := f.seen[m.ID]; ok {
				continue
			}
			f.seen[m.ID] = m.CreatedAt
			if send != nil && !send(m) {
				continue
			}
			if err := sink.Message(m); err != nil {
				return err
			}
			sent++
			if m.CreatedAt.After(f.watermark) {
				f.watermark = m.CreatedAt
			}
		}
		// A full page goes on after its last message, unless the whole page
		// has one creation time (more messages at one instant than a page:
		// the rest wait for the next look).
		if len(msgs) < inboxPage || !msgs[len(msgs)-1].CreatedAt.After(from) {
			break
		}
		from = msgs[len(msgs)-1].CreatedAt
	}
	horizon := f.watermark.Add(-inboxOverlap)
	for id, at := range f.seen {
		if at.Before(horizon) {
			delete(f.seen, id)
		}
	}
	if sent == 0 {
		return sink.Idle()
	}
	return nil
}
