package postgres

import (
	"context"
	"fmt"

	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/db"
)

// CountByStatus returns how many postings are in each status: one GROUP BY
// that the index postings_status (status, created_at, id) serves.
func (s *Store) CountByStatus(ctx context.Context) (map[domain.Status]int, error) {
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("count postings: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT status, count(*) FROM postings GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count postings: %w", err)
	}
	defer rows.Close()
	counts := map[domain.Status]int{}
	for rows.Next() {
		var (
			status string
			n      int
		)
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count postings: %w", err)
		}
		counts[domain.Status(status)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count postings: %w", err)
	}
	return counts, nil
}
