package app

import "sync"

// InboxHub tells the inbox streams of this process that a user's inbox
// got a message, so that they look at once instead of at their next poll.
// Streams still poll the store: a message stored by another instance
// reaches them that way. The zero value is not usable; use NewInboxHub.
type InboxHub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewInboxHub returns a hub with no subscribers.
func NewInboxHub() *InboxHub {
	return &InboxHub{subs: map[string]map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives a signal after the user's
// inbox changed (signals coalesce: one pending at most), and a function
// that ends the subscription.
func (h *InboxHub) Subscribe(userID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[userID] == nil {
		h.subs[userID] = map[chan struct{}]struct{}{}
	}
	h.subs[userID][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[userID], ch)
		if len(h.subs[userID]) == 0 {
			delete(h.subs, userID)
		}
	}
}

// Notify signals every subscriber of the user; it never blocks.
func (h *InboxHub) Notify(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[userID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
