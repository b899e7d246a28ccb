package poisonqueue

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/notifier/notifier/platform/clock"
)

// Memory is the Store of memory mode: lost on exit. It forgets an entry
// past its retention on its own (Sweep runs at most once a minute, on the
// next Record), since memory mode has no janitor.
type Memory struct {
	clock     clock.Clock
	retention time.Duration

	mu        sync.Mutex
	entries   map[string]*memoryEntry
	lastSweep time.Time
}

// memoryEntry is an entry and its state: taken while a Take's fn runs;
// gen counts its replacements, so that a Take deletes the entry it passed
// on, not a newer poisoning recorded meanwhile.
type memoryEntry struct {
	m     Message
	taken bool
	gen   uint64
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store keeping entries for retention by
// c; c nil means the system clock.
func NewMemory(c clock.Clock, retention time.Duration) (*Memory, error) {
	if retention <= 0 {
		return nil, errors.New("poison queue memory store: retention must be positive")
	}
	if c == nil {
		c = clock.System{}
	}
	return &Memory{clock: c, retention: retention, entries: map[string]*memoryEntry{}}, nil
}

// live reports whether m is within its retention at now.
func (s *Memory) live(m Message, now time.Time) bool {
	return m.PoisonedAt.After(now.Add(-s.retention))
}

// Record implements Store.
func (s *Memory) Record(_ context.Context, m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if now.Sub(s.lastSweep) >= time.Minute {
		s.sweep(now)
	}
	m = copyMessage(m)
	e, ok := s.entries[m.ID]
	switch {
	case !ok:
		s.entries[m.ID] = &memoryEntry{m: m}
	case e.m.PoisonedAt.Before(m.PoisonedAt):
		e.m, e.taken = m, false
		e.gen++
	}
	return nil
}

// List implements Store.
func (s *Memory) List(_ context.Context, q Query) (Page, error) {
	if q.Limit < 1 {
		return Page{}, errors.New("list poisoned messages: limit below 1")
	}
	var after *position
	if q.Cursor != "" {
		p, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		after = &p
	}
	s.mu.Lock()
	now := s.clock.Now()
	items := make([]Message, 0, min(len(s.entries), q.Limit+1))
	for _, e := range s.entries {
		m := e.m
		if !s.live(m, now) || (q.Handler != "" && m.Handler != q.Handler) || (q.Topic != "" && m.Topic != q.Topic) ||
			(after != nil && !after.before(m)) {
			continue
		}
		items = append(items, m)
	}
	s.mu.Unlock()
	slices.SortFunc(items, func(a, b Message) int {
		return cmp.Or(b.PoisonedAt.Compare(a.PoisonedAt), strings.Compare(b.ID, a.ID))
	})
	var page Page
	if len(items) > q.Limit {
		items = items[:q.Limit]
		page.NextCursor = encodeCursor(items[len(items)-1])
	}
	for i := range items {
		items[i] = copyMessage(items[i])
		if len(items[i].Payload) > q.PayloadPrefix {
			items[i].Payload = items[i].Payload[:max(q.PayloadPrefix, 0)]
		}
	}
	page.Items = items
	return page, nil
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, id string) (Message, error) {
	id, _ = canonicalID(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok || !s.live(e.m, s.clock.Now()) {
		return Message{}, ErrNotFound
	}
	return copyMessage(e.m), nil
}

// Take implements Store. While fn runs the entry is hidden from other
// Takes (they get ErrNotFound), not from Get and List.
func (s *Memory) Take(ctx context.Context, id string, fn func(ctx context.Context, m Message) error) error {
	id, _ = canonicalID(id)
	s.mu.Lock()
	e, ok := s.entries[id]
	if !ok || e.taken || !s.live(e.m, s.clock.Now()) {
		s.mu.Unlock()
		return ErrNotFound
	}
	e.taken = true
	m, gen := copyMessage(e.m), e.gen
	s.mu.Unlock()

	done := false
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur, ok := s.entries[id]; ok && cur == e && e.gen == gen {
			if done {
				delete(s.entries, id)
			} else {
				e.taken = false // fn failed or panicked: the entry stays
			}
		}
	}()
	err := fn(ctx, m)
	done = err == nil
	return err
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, id string) error {
	id, _ = canonicalID(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok || !s.live(e.m, s.clock.Now()) {
		return ErrNotFound
	}
	delete(s.entries, id)
	return nil
}

// Sweep implements Store.
func (s *Memory) Sweep(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweep(s.clock.Now()), nil
}

// sweep deletes what is past its retention at now; s.mu is held.
func (s *Memory) sweep(now time.Time) int64 {
	s.lastSweep = now
	var n int64
	for id, e := range s.entries {
		if !s.live(e.m, now) && !e.taken {
			delete(s.entries, id)
			n++
		}
	}
	return n
}

// copyMessage returns m with its own payload and metadata.
func copyMessage(m Message) Message {
	m.Payload = slices.Clone(m.Payload)
	m.Metadata = maps.Clone(m.Metadata)
	return m
}
