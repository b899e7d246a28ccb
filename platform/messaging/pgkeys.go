package messaging

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/lane"
)

// PostgresKeyStore is the durable KeyStore shared by every instance. Claim
// inserts the key in the handler's unit of work (see UnitOfWork), so the
// key commits with the handler's writes or not at all: Complete and
// Release have nothing left to do. A copy of the message handled at the
// same moment by another instance waits on the key's row lock and then
// sees it as a duplicate (or claims it, if the first handler failed).
type PostgresKeyStore struct {
	pool      *pgxpool.Pool
	retention time.Duration
}

// NewPostgresKeyStore returns a PostgresKeyStore keeping keys for
// retention (table processed_messages, migration 00001).
func NewPostgresKeyStore(pool *pgxpool.Pool, retention time.Duration) *PostgresKeyStore {
	return &PostgresKeyStore{pool: pool, retention: retention}
}

// Claim implements KeyStore.
func (s *PostgresKeyStore) Claim(ctx context.Context, key string) (bool, error) {
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return false, err
	}
	// A key past its retention is claimed again.
	tag, err := q.Exec(ctx, `
		INSERT INTO processed_messages (key, expires_at) VALUES ($1, now() + make_interval(secs => $2))
		ON CONFLICT (key) DO UPDATE SET processed_at = now(), expires_at = EXCLUDED.expires_at
		WHERE processed_messages.expires_at < now()`, key, s.retention.Seconds())
	if err != nil {
		return false, fmt.Errorf("claim message key: %w", err)
	}
	return tag.RowsAffected() == 0, nil
}

// Complete implements KeyStore: the key commits with the unit of work.
func (s *PostgresKeyStore) Complete(context.Context, string) error { return nil }

// Release implements KeyStore: inside a unit of work the rollback forgets
// the key; outside one (no transaction in ctx) it is deleted.
func (s *PostgresKeyStore) Release(ctx context.Context, key string) error {
	if _, inTx, _ := db.TxFrom(ctx); inTx {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM processed_messages WHERE key = $1`, key); err != nil {
		return fmt.Errorf("release message key: %w", err)
	}
	return nil
}

// Sweep deletes keys past their retention.
func (s *PostgresKeyStore) Sweep(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM processed_messages WHERE expires_at < now()`)
	if err != nil {
		return 0, fmt.Errorf("sweep message keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

// UnitOfWork is the router middleware that runs each handler in one
// PostgreSQL transaction, begun on first use: the deduplication key, the
// handler's writes (stores use db.Q) and the messages it publishes (the
// outbox publisher finds the transaction in the message context) commit
// together when the handler succeeds, and roll back when it fails.
func UnitOfWork(pool *pgxpool.Pool) message.HandlerMiddleware {
	return UnitOfWorkOnLanes(db.Pools{Bulk: pool})
}

// UnitOfWorkOnLanes is UnitOfWork with each message's transaction begun on
// the pool of its lane (its lane metadata), so that bulk handlers holding
// every connection of theirs never keep a transactional one waiting.
func UnitOfWorkOnLanes(pools db.Pools) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			outer := msg.Context()
			ctx, finish := db.Begin(outer, pools.For(lane.From(outer)))
			msg.SetContext(ctx)
			out, err := h(msg)
			err = finish(err)
			// The transaction is over: what the outer middlewares publish
			// (the poison queue) must not try to join it.
			msg.SetContext(outer)
			return out, err
		}
	}
}
