// Package memory is the in-memory webhooks store of memory mode: the same
// contract as the PostgreSQL store (storetest), kept in maps under one
// lock, gone with the process.
package memory

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

// Store implements app.Store in memory.
type Store struct {
	mu        sync.Mutex
	endpoints map[uuid.UUID]domain.Endpoint
	messages  map[uuid.UUID]domain.Message
	keys      map[msgKey]uuid.UUID
	attempts  map[uuid.UUID][]domain.Attempt // oldest first
	seq       map[uuid.UUID]int64
}

type msgKey struct {
	endpoint uuid.UUID
	event    string
}

var _ app.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		endpoints: map[uuid.UUID]domain.Endpoint{},
		messages:  map[uuid.UUID]domain.Message{},
		keys:      map[msgKey]uuid.UUID{},
		attempts:  map[uuid.UUID][]domain.Attempt{},
		seq:       map[uuid.UUID]int64{},
	}
}

// CreateEndpoint implements app.Store.
func (s *Store) CreateEndpoint(ctx context.Context, e domain.Endpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints[e.ID] = e.Clone()
	return nil
}

// GetEndpoint implements app.Store.
func (s *Store) GetEndpoint(ctx context.Context, id uuid.UUID) (domain.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return domain.Endpoint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[id]
	if !ok {
		return domain.Endpoint{}, domain.ErrNotFound
	}
	return e.Clone(), nil
}

// ListEndpoints implements app.Store.
func (s *Store) ListEndpoints(ctx context.Context) ([]domain.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]domain.Endpoint, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		out = append(out, e.Clone())
	}
	sortEndpoints(out)
	return out, nil
}

func sortEndpoints(es []domain.Endpoint) {
	slices.SortFunc(es, func(a, b domain.Endpoint) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID.String(), b.ID.String())
	})
}

// UpdateEndpoint implements app.Store.
func (s *Store) UpdateEndpoint(ctx context.Context, id uuid.UUID, fn func(*domain.Endpoint) error) (domain.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return domain.Endpoint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[id]
	if !ok {
		return domain.Endpoint{}, domain.ErrNotFound
	}
	work := e.Clone()
	if err := fn(&work); err != nil {
		return domain.Endpoint{}, err
	}
	work.ID = e.ID
	s.endpoints[id] = work.Clone()
	return work, nil
}

// EnableEndpoint implements app.Store.
func (s *Store) EnableEndpoint(ctx context.Context, id uuid.UUID, now, expiresAt time.Time) (domain.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return domain.Endpoint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[id]
	if !ok {
		return domain.Endpoint{}, domain.ErrNotFound
	}
	e = e.Clone()
	e.Enable(now)
	s.endpoints[id] = e
	for mid, m := range s.messages {
		if m.EndpointID == id {
			m.NextAttemptAt, m.ExpiresAt, m.Attempts = now, expiresAt, 0
			s.messages[mid] = m
		}
	}
	return e.Clone(), nil
}

// DeleteEndpoint implements app.Store.
func (s *Store) DeleteEndpoint(ctx context.Context, id uuid.UUID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoints[id]; !ok {
		return domain.ErrNotFound
	}
	delete(s.endpoints, id)
	delete(s.attempts, id)
	delete(s.seq, id)
	for mid, m := range s.messages {
		if m.EndpointID == id {
			delete(s.messages, mid)
			delete(s.keys, msgKey{m.EndpointID, m.EventKey})
		}
	}
	return nil
}

// PendingMessages implements app.Store.
func (s *Store) PendingMessages(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[uuid.UUID]int{}
	for _, m := range s.messages {
		if slices.Contains(ids, m.EndpointID) {
			out[m.EndpointID]++
		}
	}
	return out, nil
}

// Subscribers implements app.Store.
func (s *Store) Subscribers(ctx context.Context, eventTypes []string) ([]domain.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Endpoint
	for _, e := range s.endpoints {
		if e.Enabled() && slices.ContainsFunc(eventTypes, e.Subscribes) {
			out = append(out, e.Clone())
		}
	}
	sortEndpoints(out)
	return out, nil
}

// Enqueue implements app.Store.
func (s *Store) Enqueue(ctx context.Context, msgs []domain.Message) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range msgs {
		k := msgKey{m.EndpointID, m.EventKey}
		if _, dup := s.keys[k]; dup {
			continue
		}
		if _, ok := s.endpoints[m.EndpointID]; !ok {
			continue
		}
		s.keys[k] = m.ID
		s.messages[m.ID] = m.Clone()
		n++
	}
	return n, nil
}

// Claim implements app.Store.
func (s *Store) Claim(ctx context.Context, endpointID uuid.UUID, now, leaseUntil time.Time, limit int) ([]domain.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []domain.Message
	for _, m := range s.messages {
		if m.EndpointID == endpointID && !m.NextAttemptAt.After(now) {
			due = append(due, m)
		}
	}
	slices.SortFunc(due, func(a, b domain.Message) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID.String(), b.ID.String())
	})
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]domain.Message, 0, len(due))
	for _, m := range due {
		m.Attempts++
		m.NextAttemptAt = leaseUntil
		s.messages[m.ID] = m
		out = append(out, m.Clone())
	}
	return out, nil
}

// Record implements app.Store.
func (s *Store) Record(ctx context.Context, m domain.Message, a domain.Attempt, o domain.Outcome) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[m.EndpointID]
	if !ok {
		return false, nil
	}
	s.seq[e.ID]++
	a.Seq = s.seq[e.ID]
	h := append(s.attempts[e.ID], a)
	if len(h) > domain.HistorySize {
		h = slices.Clone(h[len(h)-domain.HistorySize:])
	}
	s.attempts[e.ID] = h

	stored, ok := s.messages[m.ID]
	if !ok || stored.Attempts != m.Attempts {
		return false, nil // deleted, or claimed again since
	}
	switch o.Verdict {
	case domain.Delivered, domain.GiveUp:
		delete(s.messages, m.ID)
		delete(s.keys, msgKey{m.EndpointID, m.EventKey})
	case domain.Retry:
		stored.NextAttemptAt = o.NextAttemptAt
		s.messages[m.ID] = stored
	case domain.Gone:
		stored.NextAttemptAt = a.At
		s.messages[m.ID] = stored
	}
	e = e.Clone()
	disabled := false
	switch {
	case o.Verdict == domain.Delivered:
		if e.LastSuccessAt == nil || e.LastSuccessAt.Before(a.At) {
			at := a.At
			e.LastSuccessAt = &at
		}
	case o.DisableReason == "":
	case o.Verdict == domain.GiveUp && e.LastSuccessAt != nil && !e.LastSuccessAt.Before(m.CreatedAt):
	default:
		disabled = e.Disable(o.DisableReason, a.At)
	}
	s.endpoints[e.ID] = e
	return disabled, nil
}

// ListAttempts implements app.Store.
func (s *Store) ListAttempts(ctx context.Context, endpointID uuid.UUID, limit int, cursor string) ([]domain.Attempt, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	before := int64(-1)
	if cursor != "" {
		var err error
		if before, err = app.DecodeAttemptsCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.attempts[endpointID]
	var out []domain.Attempt
	for i := len(h) - 1; i >= 0 && len(out) <= limit; i-- {
		if before >= 0 && h[i].Seq >= before {
			continue
		}
		out = append(out, h[i])
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = app.EncodeAttemptsCursor(out[limit-1].Seq)
	}
	return out, next, nil
}

// CountMessages implements app.Store.
func (s *Store) CountMessages(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.messages)), nil
}
