// Package memory is the in-memory adapter of the preferences store, for the
// memory transport and tests.
package memory

import (
	"context"
	"errors"
	"sync"

	"github.com/notifier/notifier/modules/preferences/internal/domain"
)

// Store keeps preferences in a map. It is safe for concurrent use; every
// value going in or out is copied, so callers never share its maps.
type Store struct {
	mu    sync.RWMutex
	users map[string]domain.UserPreferences
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{users: make(map[string]domain.UserPreferences)}
}

// Get implements app.Store.
func (s *Store) Get(ctx context.Context, userID string) (domain.UserPreferences, bool, error) {
	if err := ctx.Err(); err != nil {
		return domain.UserPreferences{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.users[userID]
	if !ok {
		return domain.UserPreferences{}, false, nil
	}
	return p.Clone(), true, nil
}

// GetMany implements app.Store.
func (s *Store) GetMany(ctx context.Context, userIDs []string) (map[string]domain.UserPreferences, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]domain.UserPreferences)
	for _, id := range userIDs {
		if p, ok := s.users[id]; ok {
			out[id] = p.Clone()
		}
	}
	return out, nil
}

// Put implements app.Store. It refuses an empty user id.
func (s *Store) Put(ctx context.Context, prefs domain.UserPreferences) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if prefs.UserID == "" {
		return errors.New("put preferences: empty user id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[prefs.UserID] = prefs.Clone()
	return nil
}

// Update implements app.Store: change sees and replaces the user's
// preferences under the store's lock. Nothing is stored when it fails.
func (s *Store) Update(ctx context.Context, userID string, change func(domain.UserPreferences) (domain.UserPreferences, error)) (domain.UserPreferences, error) {
	if err := ctx.Err(); err != nil {
		return domain.UserPreferences{}, err
	}
	if userID == "" {
		return domain.UserPreferences{}, errors.New("update preferences: empty user id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	current, ok := s.users[userID]
	if !ok {
		current = domain.UserPreferences{UserID: userID}
	}
	next, err := change(current.Clone())
	if err != nil {
		return domain.UserPreferences{}, err
	}
	next.UserID = userID
	s.users[userID] = next.Clone()
	return next.Clone(), nil
}
