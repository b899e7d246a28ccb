// Package memory is the in-memory Store of the delivery module, for the
// in-memory run and tests. It passes the same contract suite (storetest) as
// the PostgreSQL store; its state is lost on exit.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Store is an app.Store in memory, safe for concurrent use.
type Store struct {
	// reporting serializes Report calls, as row locks do in PostgreSQL, so
	// that overlapping reports publish each row once.
	reporting sync.Mutex

	mu        sync.Mutex
	rows      map[domain.Key]*domain.Delivery
	postings  map[string]*postingRows
	users     map[string][]domain.Key
	cancelled map[string]time.Time
	leases    map[app.BatchKey]lease
}

// lease is a batch's holder and when its lease ends.
type lease struct {
	holder  string
	expires time.Time
}

// postingRows lists the keys of one posting, sorted lazily for listing.
type postingRows struct {
	keys   []domain.Key
	sorted bool
}

var _ app.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		rows:      map[domain.Key]*domain.Delivery{},
		postings:  map[string]*postingRows{},
		users:     map[string][]domain.Key{},
		cancelled: map[string]time.Time{},
		leases:    map[app.BatchKey]lease{},
	}
}

// InsertPending implements app.Store.
func (s *Store) InsertPending(_ context.Context, keys []domain.Key, at time.Time) ([]domain.Delivery, error) {
	for _, k := range keys {
		if !k.Valid() {
			return nil, fmt.Errorf("insert deliveries: invalid key %q/%q/%q", k.PostingID, k.UserID, k.Channel)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pending := make([]domain.Delivery, 0, len(keys))
	seen := make(map[domain.Key]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		row, ok := s.rows[k]
		if !ok {
			row = &domain.Delivery{Key: k, Status: delivery.StatusPending, CreatedAt: at, UpdatedAt: at}
			s.rows[k] = row
			p := s.postings[k.PostingID]
			if p == nil {
				p = &postingRows{}
				s.postings[k.PostingID] = p
			}
			p.keys = append(p.keys, k)
			p.sorted = false
			s.users[k.UserID] = append(s.users[k.UserID], k)
		}
		if row.Status == delivery.StatusPending {
			pending = append(pending, *row)
		}
	}
	return pending, nil
}

// RecordAttempt implements app.Store.
func (s *Store) RecordAttempt(_ context.Context, key domain.Key, errText string, at time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.rows[key]
	if !ok || row.Status != delivery.StatusPending {
		return false, nil
	}
	row.Attempts++
	row.Error = errText
	row.UpdatedAt = at
	return true, nil
}

// Finish implements app.Store.
func (s *Store) Finish(_ context.Context, key domain.Key, f app.Final) (domain.Delivery, bool, error) {
	if !domain.IsFinal(f.Status) {
		return domain.Delivery{}, false, fmt.Errorf("finish delivery: %q is not a final status", f.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.finish(key, f)
	return row, ok, nil
}

// finish applies f to the row of key if it is pending; s.mu is held.
func (s *Store) finish(key domain.Key, f app.Final) (domain.Delivery, bool) {
	row, ok := s.rows[key]
	if !ok || row.Status != delivery.StatusPending {
		return domain.Delivery{}, false
	}
	row.Status = f.Status
	row.Error = f.Error
	row.MessageID = f.MessageID
	row.Provider = f.Provider
	if f.Attempted {
		row.Attempts++
	}
	row.UpdatedAt = f.At
	if f.Status == delivery.StatusSent {
		row.SentAt = f.At
	}
	return *row, true
}

// FinishMany implements app.Store.
func (s *Store) FinishMany(_ context.Context, transitions []app.Transition) (int, error) {
	for _, t := range transitions {
		if !domain.IsFinal(t.Final.Status) {
			return 0, fmt.Errorf("finish deliveries: %q is not a final status", t.Final.Status)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range transitions {
		if _, ok := s.finish(t.Key, t.Final); ok {
			n++
		}
	}
	return n, nil
}

// Report implements app.Store.
func (s *Store) Report(ctx context.Context, scope app.ReportScope, publish func(context.Context, []domain.Delivery) error) (int, error) {
	s.reporting.Lock()
	defer s.reporting.Unlock()
	total := 0
	for {
		rows := s.unreported(scope)
		if len(rows) == 0 {
			return total, nil
		}
		if err := publish(ctx, rows); err != nil {
			return total, err
		}
		s.mu.Lock()
		for _, r := range rows {
			s.rows[r.Key].Reported = true
		}
		s.mu.Unlock()
		total += len(rows)
	}
}

// unreported returns the first chunk of the final, unreported rows of
// scope, ordered by user id then channel.
func (s *Store) unreported(scope app.ReportScope) []domain.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []domain.Key
	if scope.Keys != nil {
		keys = scope.Keys
	} else if p := s.postings[scope.PostingID]; p != nil {
		keys = p.keys
	}
	var rows []domain.Delivery
	seen := make(map[domain.Key]bool, len(keys))
	for _, k := range keys {
		row, ok := s.rows[k]
		if !ok || seen[k] || k.PostingID != scope.PostingID || row.Reported || !domain.IsFinal(row.Status) {
			continue
		}
		seen[k] = true
		rows = append(rows, *row)
	}
	slices.SortFunc(rows, func(a, b domain.Delivery) int { return compareKeys(a.Key, b.Key) })
	if scope.Chunk > 0 && len(rows) > scope.Chunk {
		rows = rows[:scope.Chunk]
	}
	return rows
}

// ListByPosting implements app.Store.
func (s *Store) ListByPosting(_ context.Context, postingID string, q app.ListQuery) (app.Page, error) {
	if q.Limit < 1 {
		return app.Page{}, fmt.Errorf("list deliveries: limit %d is below 1", q.Limit)
	}
	var after *domain.Key
	if q.Cursor != "" {
		k, err := app.DecodeCursor(postingID, q.Cursor)
		if err != nil {
			return app.Page{}, err
		}
		after = &k
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.postings[postingID]
	if p == nil {
		return app.Page{}, nil
	}
	if !p.sorted {
		slices.SortFunc(p.keys, compareKeys)
		p.sorted = true
	}
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(p.keys, *after, compareKeys)
		if start < len(p.keys) && p.keys[start] == *after {
			start++
		}
	}
	var page app.Page
	for _, k := range p.keys[start:] {
		row := s.rows[k]
		if q.Status != "" && row.Status != q.Status {
			continue
		}
		if len(page.Items) == q.Limit {
			page.NextCursor = app.EncodeCursor(page.Items[len(page.Items)-1].Key)
			break
		}
		page.Items = append(page.Items, *row)
	}
	return page, nil
}

// ListByUser implements app.Store: it sorts the user's rows at each call,
// which is cheap at the size of one user's deliveries.
func (s *Store) ListByUser(_ context.Context, userID string, q app.UserListQuery) (app.Page, error) {
	if q.Limit < 1 {
		return app.Page{}, fmt.Errorf("list user deliveries: limit %d is below 1", q.Limit)
	}
	var after *app.UserCursor
	if q.Cursor != "" {
		c, err := app.DecodeUserCursor(q.Cursor)
		if err != nil {
			return app.Page{}, err
		}
		after = &c
	}
	s.mu.Lock()
	rows := make([]domain.Delivery, 0, len(s.users[userID]))
	for _, k := range s.users[userID] {
		row := s.rows[k]
		if (q.Status != "" && row.Status != q.Status) || (q.Channel != "" && row.Channel != q.Channel) {
			continue
		}
		if after != nil && !after.After(*row) {
			continue
		}
		rows = append(rows, *row)
	}
	s.mu.Unlock()
	slices.SortFunc(rows, func(a, b domain.Delivery) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.PostingID, a.PostingID), strings.Compare(b.Channel, a.Channel))
	})
	var page app.Page
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		page.NextCursor = app.EncodeUserCursor(rows[len(rows)-1])
	}
	page.Items = rows
	return page, nil
}

// CancelPosting implements app.Store.
func (s *Store) CancelPosting(_ context.Context, postingID string, at time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cancelled[postingID]; !ok {
		s.cancelled[postingID] = at
	}
	p := s.postings[postingID]
	if p == nil {
		return 0, nil
	}
	n := 0
	for _, k := range p.keys {
		row := s.rows[k]
		if row.Status != delivery.StatusPending {
			continue
		}
		row.Status = delivery.StatusCancelled
		row.Error = "posting cancelled"
		row.UpdatedAt = at
		n++
	}
	return n, nil
}

// IsCancelled implements app.Store.
func (s *Store) IsCancelled(_ context.Context, postingID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.cancelled[postingID]
	return ok, nil
}

// compareKeys orders the keys of one posting by user id, then channel, byte
// by byte (as PostgreSQL does with COLLATE "C").
func compareKeys(a, b domain.Key) int {
	return cmp.Or(strings.Compare(a.UserID, b.UserID), strings.Compare(a.Channel, b.Channel))
}

// LeaseBatch implements app.Store, against the process's clock.
func (s *Store) LeaseBatch(_ context.Context, batch app.BatchKey, holder string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if l, ok := s.leases[batch]; ok && l.holder != holder && now.Before(l.expires) {
		return false, nil
	}
	s.leases[batch] = lease{holder: holder, expires: now.Add(ttl)}
	return true, nil
}

// ReleaseBatch implements app.Store.
func (s *Store) ReleaseBatch(_ context.Context, batch app.BatchKey, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[batch]; ok && l.holder == holder {
		delete(s.leases, batch)
	}
	return nil
}
