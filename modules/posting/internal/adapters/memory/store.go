// Package memory is the in-memory posting store, for the in-memory run and
// tests. It passes the same contract suite (storetest) as the database
// store.
package memory

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/posting/internal/domain"
)

// Store is an in-memory domain.Store. The zero value is not usable; call New.
type Store struct {
	mu    sync.Mutex
	byID  map[uuid.UUID]domain.Posting
	byKey map[string]heldKey
}

// heldKey is the posting an idempotency key answers with, until expiresAt.
type heldKey struct {
	id        uuid.UUID
	expiresAt time.Time
}

var _ domain.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{byID: map[uuid.UUID]domain.Posting{}, byKey: map[string]heldKey{}}
}

// Create stores p unless its idempotency key is held by another posting.
func (s *Store) Create(ctx context.Context, p domain.Posting, keyExpiresAt time.Time) (domain.Posting, bool, error) {
	if err := ctx.Err(); err != nil {
		return domain.Posting{}, false, err
	}
	if p.IdempotencyKey == "" {
		return domain.Posting{}, false, errors.New("create posting: empty idempotency key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.byKey[p.IdempotencyKey]; ok && k.expiresAt.After(p.CreatedAt) {
		return s.byID[k.id].Clone(), false, nil
	}
	if _, ok := s.byID[p.ID]; ok {
		return domain.Posting{}, false, errors.New("create posting: id already used")
	}
	s.byID[p.ID] = p.Clone()
	s.byKey[p.IdempotencyKey] = heldKey{id: p.ID, expiresAt: keyExpiresAt}
	return p.Clone(), true, nil
}

// SweepKeys forgets the expired keys.
func (s *Store) SweepKeys(ctx context.Context, now time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for key, k := range s.byKey {
		if !k.expiresAt.After(now) {
			delete(s.byKey, key)
			n++
		}
	}
	return n, nil
}

// Get returns the posting with id.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (domain.Posting, error) {
	if err := ctx.Err(); err != nil {
		return domain.Posting{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if !ok {
		return domain.Posting{}, domain.ErrNotFound
	}
	return p.Clone(), nil
}

// List returns a page of postings, newest first.
func (s *Store) List(ctx context.Context, q domain.ListQuery) ([]domain.Posting, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var matched []domain.Posting
	for _, p := range s.byID {
		if q.Matches(p) && (q.After == nil || q.After.Before(p)) {
			matched = append(matched, p)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(matched, func(a, b domain.Posting) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID.String(), a.ID.String())
	})
	if q.Limit > 0 && len(matched) > q.Limit {
		matched = matched[:q.Limit]
	}
	out := make([]domain.Posting, len(matched))
	for i, p := range matched {
		out[i] = p.Clone()
	}
	return out, nil
}

// Update applies fn to the posting with id under the store's lock.
func (s *Store) Update(ctx context.Context, id uuid.UUID, fn func(*domain.Posting) error) (domain.Posting, error) {
	if err := ctx.Err(); err != nil {
		return domain.Posting{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if !ok {
		return domain.Posting{}, domain.ErrNotFound
	}
	work := p.Clone()
	if err := fn(&work); err != nil {
		return domain.Posting{}, err
	}
	work.ID, work.IdempotencyKey, work.RequestFingerprint = p.ID, p.IdempotencyKey, p.RequestFingerprint // identity never changes
	s.byID[id] = work.Clone()
	return work, nil
}

// AddOutcomes adds delta's delivery outcomes under the store's lock.
func (s *Store) AddOutcomes(ctx context.Context, id uuid.UUID, delta domain.Counters, now time.Time) (domain.Posting, bool, error) {
	settled := false
	p, err := s.Update(ctx, id, func(p *domain.Posting) error {
		was := p.Status.Terminal()
		p.AddOutcomes(delta, now)
		settled = !was && p.Status.Terminal()
		return nil
	})
	return p, settled, err
}

// ListDue returns scheduled postings whose time has come.
func (s *Store) ListDue(ctx context.Context, now time.Time, limit int) ([]domain.Posting, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var due []domain.Posting
	for _, p := range s.byID {
		if p.Status == domain.StatusScheduled && p.SendAt != nil && !p.SendAt.After(now) {
			due = append(due, p.Clone())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(due, func(a, b domain.Posting) int {
		if c := a.SendAt.Compare(*b.SendAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID.String(), b.ID.String())
	})
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	return due, nil
}
