package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// LeaseBatch implements app.Store in one statement, against the database's
// clock (the instances' clocks may differ): the lease is taken when there
// is none, when it has expired, or when holder has it.
func (s *Store) LeaseBatch(ctx context.Context, batch app.BatchKey, holder string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO delivery_batch_leases AS l (posting_id, lane, batch_no, holder, expires_at)
		VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
		ON CONFLICT (posting_id, lane, batch_no) DO UPDATE
		SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()`,
		batch.PostingID, batch.Lane, batch.BatchNo, holder, ttl.Seconds())
	if err != nil {
		return false, fmt.Errorf("lease batch: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseBatch implements app.Store.
func (s *Store) ReleaseBatch(ctx context.Context, batch app.BatchKey, holder string) error {
	_, err := s.pool.Exec(ctx, `
		DELETE FROM delivery_batch_leases WHERE posting_id = $1 AND lane = $2 AND batch_no = $3 AND holder = $4`,
		batch.PostingID, batch.Lane, batch.BatchNo, holder)
	if err != nil {
		return fmt.Errorf("release batch: %w", err)
	}
	return nil
}
