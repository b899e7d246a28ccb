package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/db"
)

// Deferred keeps deferred batches in delivery_deferred (migration 00013).
type Deferred struct {
	pool *pgxpool.Pool
}

var _ app.DeferredStore = (*Deferred)(nil)

// NewDeferred returns the store on pool; pool is required.
func NewDeferred(pool *pgxpool.Pool) (*Deferred, error) {
	if pool == nil {
		return nil, errors.New("new deferred store: pool is required")
	}
	return &Deferred{pool: pool}, nil
}

// Defer implements app.DeferredStore in one statement; it joins its
// caller's transaction, if any.
func (d *Deferred) Defer(ctx context.Context, batches []app.DeferredBatch) error {
	if len(batches) == 0 {
		return nil
	}
	postings := make([]string, len(batches))
	lanes := make([]string, len(batches))
	nos := make([]int32, len(batches))
	notBefore := make([]time.Time, len(batches))
	commands := make([]string, len(batches))
	for i, b := range batches {
		raw, err := json.Marshal(b.Command)
		if err != nil {
			return fmt.Errorf("defer batch: %w", err)
		}
		postings[i], lanes[i], nos[i], notBefore[i], commands[i] = b.Batch.PostingID, b.Batch.Lane, int32(b.Batch.BatchNo), b.NotBefore.UTC(), string(raw)
	}
	q, err := db.Q(ctx, d.pool)
	if err != nil {
		return fmt.Errorf("defer batch: %w", err)
	}
	_, err = q.Exec(ctx, `
		INSERT INTO delivery_deferred (posting_id, lane, batch_no, not_before, command)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::jsonb[])
		ON CONFLICT DO NOTHING`, postings, lanes, nos, notBefore, commands)
	if err != nil {
		return fmt.Errorf("defer batch: %w", err)
	}
	return nil
}

// Due implements app.DeferredStore: one transaction locks the due rows
// (SKIP LOCKED: other instances take others), runs resume in it (its
// commands go to the outbox of the same transaction) and deletes them.
func (d *Deferred) Due(ctx context.Context, now time.Time, limit int, resume func(context.Context, []app.DeferredBatch) error) (int, error) {
	n := 0
	err := db.InTx(ctx, d.pool, func(ctx context.Context) error {
		q, err := db.Q(ctx, d.pool)
		if err != nil {
			return err
		}
		rows, err := q.Query(ctx, `
			SELECT posting_id, lane, batch_no, not_before, command FROM delivery_deferred
			WHERE not_before <= $1 ORDER BY not_before LIMIT $2 FOR UPDATE SKIP LOCKED`, now.UTC(), limit)
		if err != nil {
			return err
		}
		var due []app.DeferredBatch
		for rows.Next() {
			var (
				b   app.DeferredBatch
				raw []byte
			)
			if err := rows.Scan(&b.Batch.PostingID, &b.Batch.Lane, &b.Batch.BatchNo, &b.NotBefore, &raw); err != nil {
				rows.Close()
				return err
			}
			var cmd delivery.DeliverBatch
			if err := json.Unmarshal(raw, &cmd); err != nil {
				rows.Close()
				return fmt.Errorf("deferred batch %s#%d: %w", b.Batch.PostingID, b.Batch.BatchNo, err)
			}
			b.Command = cmd
			due = append(due, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		if err := resume(ctx, due); err != nil {
			return err
		}
		for _, b := range due {
			if _, err := q.Exec(ctx, `DELETE FROM delivery_deferred
				WHERE posting_id = $1 AND lane = $2 AND batch_no = $3 AND not_before = $4`,
				b.Batch.PostingID, b.Batch.Lane, b.Batch.BatchNo, b.NotBefore); err != nil {
				return err
			}
		}
		n = len(due)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("take due deferred batches: %w", err)
	}
	return n, nil
}
