package memory

import (
	"context"

	"github.com/notifier/notifier/modules/posting/internal/domain"
)

// CountByStatus returns how many postings are in each status.
func (s *Store) CountByStatus(ctx context.Context) (map[domain.Status]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := map[domain.Status]int{}
	for _, p := range s.byID {
		counts[p.Status]++
	}
	return counts, nil
}
