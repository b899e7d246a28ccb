package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Suppressions is an app.SuppressionStore in memory, safe for concurrent
// use. Both delivery lanes and the HTTP port share one.
type Suppressions struct {
	mu      sync.RWMutex
	entries map[domain.Address]domain.Suppression
}

var _ app.SuppressionStore = (*Suppressions)(nil)

// NewSuppressions returns an empty suppression list.
func NewSuppressions() *Suppressions {
	return &Suppressions{entries: map[domain.Address]domain.Suppression{}}
}

// Suppressed implements app.SuppressionStore.
func (s *Suppressions) Suppressed(_ context.Context, addrs []domain.Address) ([]domain.Address, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.entries) == 0 {
		return nil, nil
	}
	var found []domain.Address
	var seen map[domain.Address]bool
	for _, a := range addrs {
		if _, ok := s.entries[a]; ok && !seen[a] {
			if seen == nil {
				seen = map[domain.Address]bool{}
			}
			seen[a] = true
			found = append(found, a)
		}
	}
	return found, nil
}

// Suppress implements app.SuppressionStore. Times are kept to the
// microsecond, as PostgreSQL keeps them.
func (s *Suppressions) Suppress(_ context.Context, e domain.Suppression) (domain.Suppression, bool, error) {
	if !domain.ValidSource(e.Source) {
		return domain.Suppression{}, false, fmt.Errorf("suppress: unknown source %q", e.Source)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.entries[e.Address]; ok {
		return old, false, nil
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
	s.entries[e.Address] = e
	return e, true, nil
}

// ListSuppressions implements app.SuppressionStore.
func (s *Suppressions) ListSuppressions(_ context.Context, q app.SuppressionQuery) (app.SuppressionPage, error) {
	if q.Limit < 1 {
		return app.SuppressionPage{}, fmt.Errorf("list suppressions: limit %d is below 1", q.Limit)
	}
	var after *app.SuppressionCursor
	if q.Cursor != "" {
		c, err := app.DecodeSuppressionCursor(q.Cursor)
		if err != nil {
			return app.SuppressionPage{}, err
		}
		after = &c
	}
	s.mu.RLock()
	items := make([]domain.Suppression, 0, min(len(s.entries), q.Limit+1))
	for _, e := range s.entries {
		if (q.Channel != "" && e.Channel != q.Channel) || (q.Address != "" && e.Value != q.Address) {
			continue
		}
		if after != nil && !after.After(e) {
			continue
		}
		items = append(items, e)
	}
	s.mu.RUnlock()
	slices.SortFunc(items, func(a, b domain.Suppression) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.Channel, b.Channel), strings.Compare(a.Value, b.Value))
	})
	var page app.SuppressionPage
	if len(items) > q.Limit {
		items = items[:q.Limit]
		page.NextCursor = app.EncodeSuppressionCursor(items[len(items)-1])
	}
	page.Items = items
	return page, nil
}

// Unsuppress implements app.SuppressionStore.
func (s *Suppressions) Unsuppress(_ context.Context, addr domain.Address) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[addr]; !ok {
		return app.ErrSuppressionNotFound
	}
	delete(s.entries, addr)
	return nil
}
