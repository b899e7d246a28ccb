package poisonqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/messaging"
)

// Postgres is the Store shared by every instance (table poison_messages,
// migration 00017). Record joins the caller's unit of work (db.Q): the
// poison handler's transaction. Take runs in the caller's transaction, or
// one of its own. Retention is counted by the clock given, like the
// poisoning times the router stamps.
type Postgres struct {
	pool      *pgxpool.Pool
	clock     clock.Clock
	retention time.Duration
}

var _ Store = (*Postgres)(nil)

// NewPostgres returns the store on pool keeping entries for retention by
// c; pool is required, c nil means the system clock.
func NewPostgres(pool *pgxpool.Pool, c clock.Clock, retention time.Duration) (*Postgres, error) {
	if pool == nil {
		return nil, errors.New("poison queue postgres store: pool is required")
	}
	if retention <= 0 {
		return nil, errors.New("poison queue postgres store: retention must be positive")
	}
	if c == nil {
		c = clock.System{}
	}
	return &Postgres{pool: pool, clock: c, retention: retention}, nil
}

// cutoff is the poisoning time at or before which an entry is past its
// retention.
func (s *Postgres) cutoff() time.Time { return s.clock.Now().Add(-s.retention).UTC() }

// columns are what scan reads, in its order (List reads a prefix of the
// payload instead).
const columns = `id::text, message_id, topic, handler, reason, payload, length(payload), metadata, poisoned_at`

// Record implements Store. A value PostgreSQL refuses (a data or integrity
// error) can never be recorded: the error is messaging.Permanent, and in
// the caller's transaction the insert ran in a savepoint, rolled back, so
// that the transaction can still commit (the poison handler drops such a
// message and succeeds).
func (s *Postgres) Record(ctx context.Context, m Message) error {
	tx, inTx, err := db.TxFrom(ctx)
	if err != nil {
		return fmt.Errorf("record poisoned message: %w", err)
	}
	if !inTx {
		return s.record(ctx, s.pool, m)
	}
	savepoint, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record poisoned message: %w", err)
	}
	if err := s.record(ctx, savepoint, m); err != nil {
		return errors.Join(err, savepoint.Rollback(ctx))
	}
	if err := savepoint.Commit(ctx); err != nil {
		return fmt.Errorf("record poisoned message: %w", err)
	}
	return nil
}

func (s *Postgres) record(ctx context.Context, q db.Querier, m Message) error {
	_, err := q.Exec(ctx, `
		INSERT INTO poison_messages (id, message_id, topic, handler, reason, payload, metadata, poisoned_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET
			message_id = EXCLUDED.message_id, topic = EXCLUDED.topic, handler = EXCLUDED.handler,
			reason = EXCLUDED.reason, payload = EXCLUDED.payload, metadata = EXCLUDED.metadata,
			poisoned_at = EXCLUDED.poisoned_at
		WHERE poison_messages.poisoned_at < EXCLUDED.poisoned_at`,
		m.ID, m.MessageID, m.Topic, m.Handler, m.Reason, payloadOf(m), metadataOf(m), m.PoisonedAt.UTC())
	if err != nil {
		err = fmt.Errorf("record poisoned message: %w", err)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
			return messaging.Permanent(err)
		}
		return err
	}
	return nil
}

func payloadOf(m Message) []byte {
	if m.Payload == nil {
		return []byte{}
	}
	return m.Payload
}

func metadataOf(m Message) map[string]string {
	if m.Metadata == nil {
		return map[string]string{}
	}
	return m.Metadata
}

// List implements Store with a keyset query on poison_messages_poisoned_at,
// filtered as it walks it; only the preview of each payload is read.
func (s *Postgres) List(ctx context.Context, lq Query) (Page, error) {
	if lq.Limit < 1 {
		return Page{}, errors.New("list poisoned messages: limit below 1")
	}
	var sql strings.Builder
	sql.WriteString(`SELECT id::text, message_id, topic, handler, reason, substring(payload from 1 for $1),
		length(payload), metadata, poisoned_at FROM poison_messages WHERE poisoned_at > $2`)
	args := []any{max(lq.PayloadPrefix, 0), s.cutoff()}
	if lq.Handler != "" {
		args = append(args, lq.Handler)
		fmt.Fprintf(&sql, ` AND handler = $%d`, len(args))
	}
	if lq.Topic != "" {
		args = append(args, lq.Topic)
		fmt.Fprintf(&sql, ` AND topic = $%d`, len(args))
	}
	if lq.Cursor != "" {
		after, err := decodeCursor(lq.Cursor)
		if err != nil {
			return Page{}, err
		}
		args = append(args, after.at, after.id)
		fmt.Fprintf(&sql, ` AND (poisoned_at, id) < ($%d, $%d::uuid)`, len(args)-1, len(args))
	}
	args = append(args, lq.Limit+1)
	fmt.Fprintf(&sql, ` ORDER BY poisoned_at DESC, id DESC LIMIT $%d`, len(args))

	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return Page{}, fmt.Errorf("list poisoned messages: %w", err)
	}
	rows, err := q.Query(ctx, sql.String(), args...)
	if err != nil {
		return Page{}, fmt.Errorf("list poisoned messages: %w", err)
	}
	items, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return Page{}, fmt.Errorf("list poisoned messages: %w", err)
	}
	var page Page
	if len(items) > lq.Limit {
		items = items[:lq.Limit]
		page.NextCursor = encodeCursor(items[len(items)-1])
	}
	page.Items = items
	return page, nil
}

// Get implements Store.
func (s *Postgres) Get(ctx context.Context, id string) (Message, error) {
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return Message{}, fmt.Errorf("get poisoned message: %w", err)
	}
	m, err := s.get(ctx, q, id, "")
	if err != nil {
		return Message{}, fmt.Errorf("get poisoned message: %w", err)
	}
	return m, nil
}

// get reads one live entry, with lock appended to the query (FOR UPDATE),
// or returns ErrNotFound.
func (s *Postgres) get(ctx context.Context, q db.Querier, id, lock string) (Message, error) {
	id, ok := canonicalID(id)
	if !ok {
		return Message{}, ErrNotFound
	}
	rows, err := q.Query(ctx, `SELECT `+columns+` FROM poison_messages WHERE id = $1 AND poisoned_at > $2 `+lock, id, s.cutoff())
	if err != nil {
		return Message{}, err
	}
	m, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, ErrNotFound
	}
	return m, err
}

// Take implements Store: the entry is locked (FOR UPDATE; a concurrent
// Take waits, then finds it gone), fn runs, and the entry is deleted, in
// one transaction.
func (s *Postgres) Take(ctx context.Context, id string, fn func(ctx context.Context, m Message) error) error {
	return db.InTx(ctx, s.pool, func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool)
		if err != nil {
			return fmt.Errorf("take poisoned message: %w", err)
		}
		m, err := s.get(ctx, q, id, "FOR UPDATE")
		if errors.Is(err, ErrNotFound) {
			return err
		}
		if err != nil {
			return fmt.Errorf("take poisoned message: %w", err)
		}
		if err := fn(ctx, m); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM poison_messages WHERE id = $1`, m.ID); err != nil {
			return fmt.Errorf("take poisoned message: %w", err)
		}
		return nil
	})
}

// Delete implements Store.
func (s *Postgres) Delete(ctx context.Context, id string) error {
	id, ok := canonicalID(id)
	if !ok {
		return ErrNotFound
	}
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("delete poisoned message: %w", err)
	}
	tag, err := q.Exec(ctx, `DELETE FROM poison_messages WHERE id = $1 AND poisoned_at > $2`, id, s.cutoff())
	if err != nil {
		return fmt.Errorf("delete poisoned message: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Sweep implements Store; the janitor runs it (db.Sweeper).
func (s *Postgres) Sweep(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM poison_messages WHERE poisoned_at <= $1`, s.cutoff())
	if err != nil {
		return 0, fmt.Errorf("sweep poisoned messages: %w", err)
	}
	return tag.RowsAffected(), nil
}

func scan(row pgx.CollectableRow) (Message, error) {
	var m Message
	err := row.Scan(&m.ID, &m.MessageID, &m.Topic, &m.Handler, &m.Reason, &m.Payload, &m.PayloadSize, &m.Metadata, &m.PoisonedAt)
	m.PoisonedAt = m.PoisonedAt.UTC()
	return m, err
}
