package claimcheck

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/db"
)

// Postgres is the Store shared by every instance (table claim_checks,
// migration 00009). Put joins the caller's unit of work (db.Q), so a claim
// commits with the messages that reference it.
type Postgres struct {
	pool *pgxpool.Pool
}

var _ Store = (*Postgres)(nil)

// NewPostgres returns the store on pool; pool is required.
func NewPostgres(pool *pgxpool.Pool) (*Postgres, error) {
	if pool == nil {
		return nil, errors.New("new claim check store: pool is required")
	}
	return &Postgres{pool: pool}, nil
}

// Put stores payload under ref unless it is stored already.
func (p *Postgres) Put(ctx context.Context, ref string, payload []byte, expiresAt time.Time) error {
	q, err := db.Q(ctx, p.pool)
	if err != nil {
		return fmt.Errorf("put claim: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO claim_checks (ref, payload, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (ref) DO NOTHING`, ref, payload, expiresAt); err != nil {
		return fmt.Errorf("put claim: %w", err)
	}
	return nil
}

// Get returns the payload under ref, or ErrNotFound when it is not there
// or has expired.
func (p *Postgres) Get(ctx context.Context, ref string) ([]byte, error) {
	q, err := db.Q(ctx, p.pool)
	if err != nil {
		return nil, fmt.Errorf("get claim: %w", err)
	}
	var payload []byte
	err = q.QueryRow(ctx, `SELECT payload FROM claim_checks WHERE ref = $1 AND expires_at > now()`, ref).Scan(&payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get claim: %w", err)
	}
	return payload, nil
}

// Sweep deletes the expired claims and returns how many (for the janitor).
func (p *Postgres) Sweep(ctx context.Context) (int64, error) {
	tag, err := p.pool.Exec(ctx, `DELETE FROM claim_checks WHERE expires_at <= now()`)
	if err != nil {
		return 0, fmt.Errorf("sweep claims: %w", err)
	}
	return tag.RowsAffected(), nil
}
