package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Inbox is an app.InboxStore in memory, safe for concurrent use.
type Inbox struct {
	mu sync.Mutex
	// byUser holds each user's messages in order of arrival.
	byUser map[string][]domain.InboxMessage
	ids    map[string]string // message id → user id
}

var _ app.InboxStore = (*Inbox)(nil)

// NewInbox returns an empty inbox store.
func NewInbox() *Inbox {
	return &Inbox{byUser: map[string][]domain.InboxMessage{}, ids: map[string]string{}}
}

// Add implements app.InboxStore.
func (s *Inbox) Add(_ context.Context, m domain.InboxMessage) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[m.ID]; ok {
		return false, nil
	}
	m.CreatedAt = m.CreatedAt.UTC()
	if m.ExpiresAt != nil {
		at := m.ExpiresAt.UTC()
		m.ExpiresAt = &at
	}
	s.ids[m.ID] = m.UserID
	msgs := s.byUser[m.UserID]
	i, _ := slices.BinarySearchFunc(msgs, m, func(a, b domain.InboxMessage) int {
		if a.Before(b) {
			return -1
		}
		return 1
	})
	s.byUser[m.UserID] = slices.Insert(msgs, i, m)
	return true, nil
}

// List implements app.InboxStore.
func (s *Inbox) List(_ context.Context, q app.InboxQuery) (app.InboxPage, error) {
	var after *app.InboxCursor
	if q.Cursor != "" {
		c, err := app.DecodeInboxCursor(q.Cursor)
		if err != nil {
			return app.InboxPage{}, err
		}
		after = &c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	page := app.InboxPage{Items: []domain.InboxMessage{}}
	msgs := s.byUser[q.UserID]
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Expired(q.Now) {
			continue
		}
		if !m.Read() {
			page.Unread++
		}
		if (q.UnreadOnly && m.Read()) || (after != nil && !after.After(m)) {
			continue
		}
		if len(page.Items) == q.Limit {
			page.NextCursor = app.EncodeInboxCursor(page.Items[len(page.Items)-1])
			continue
		}
		page.Items = append(page.Items, m)
	}
	return page, nil
}

// Since implements app.InboxStore.
func (s *Inbox) Since(_ context.Context, userID string, from, now time.Time, limit int) ([]domain.InboxMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.InboxMessage
	for _, m := range s.byUser[userID] {
		if len(out) == limit {
			break
		}
		if !m.CreatedAt.Before(from) && !m.Expired(now) {
			out = append(out, m)
		}
	}
	return out, nil
}

// Get implements app.InboxStore.
func (s *Inbox) Get(_ context.Context, userID, id string, now time.Time) (domain.InboxMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(userID, id)
	if i < 0 || s.byUser[userID][i].Expired(now) {
		return domain.InboxMessage{}, app.ErrInboxMessageNotFound
	}
	return s.byUser[userID][i], nil
}

// MarkRead implements app.InboxStore.
func (s *Inbox) MarkRead(_ context.Context, userID, id string, at time.Time) (domain.InboxMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(userID, id)
	if i < 0 || s.byUser[userID][i].Expired(at) {
		return domain.InboxMessage{}, app.ErrInboxMessageNotFound
	}
	m := &s.byUser[userID][i]
	if !m.Read() {
		m.ReadAt = at.UTC()
	}
	return *m, nil
}

// DeleteExpired implements app.InboxStore.
func (s *Inbox) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for user, msgs := range s.byUser {
		kept := slices.DeleteFunc(msgs, func(m domain.InboxMessage) bool {
			if m.Expired(now) {
				delete(s.ids, m.ID)
				n++
				return true
			}
			return false
		})
		if len(kept) == 0 {
			delete(s.byUser, user)
		} else {
			s.byUser[user] = kept
		}
	}
	return n, nil
}

// find returns the index of the user's message id, or -1. The caller holds
// s.mu.
func (s *Inbox) find(userID, id string) int {
	if s.ids[id] != userID {
		return -1
	}
	return slices.IndexFunc(s.byUser[userID], func(m domain.InboxMessage) bool { return m.ID == id })
}
