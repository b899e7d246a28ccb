// Package postgres is the PostgreSQL webhooks store (migration 00014):
// tables webhook_endpoints, webhook_messages (the module's outbox) and
// webhook_attempts.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/lane"
)

// Store implements app.Store on PostgreSQL.
type Store struct {
	pools db.Pools
}

var _ app.Store = (*Store)(nil)

// New returns the store on pools: Subscribers reads on the pool of the
// caller's lane (lane.From), everything else but Enqueue (which joins the
// caller's unit of work) on the bulk pool.
func New(pools db.Pools) (*Store, error) {
	if pools.Bulk == nil {
		return nil, errors.New("webhooks postgres store: nil pool")
	}
	return &Store{pools: pools}, nil
}

func (s *Store) pool() *pgxpool.Pool { return s.pools.Bulk }

const endpointColumns = `id, url, description, events, secret, previous_secret, previous_secret_expires_at,
	created_at, updated_at, disabled_at, disabled_reason, last_success_at`

func scanEndpoint(row pgx.Row) (domain.Endpoint, error) {
	var e domain.Endpoint
	err := row.Scan(&e.ID, &e.URL, &e.Description, &e.Events, &e.Secret, &e.PreviousSecret, &e.PreviousSecretExpiresAt,
		&e.CreatedAt, &e.UpdatedAt, &e.DisabledAt, &e.DisabledReason, &e.LastSuccessAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Endpoint{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Endpoint{}, err
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	e.PreviousSecretExpiresAt, e.DisabledAt, e.LastSuccessAt = utc(e.PreviousSecretExpiresAt), utc(e.DisabledAt), utc(e.LastSuccessAt)
	return e, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Store) endpoints(ctx context.Context, q db.Querier, sql string, args ...any) ([]domain.Endpoint, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []domain.Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CreateEndpoint implements app.Store.
func (s *Store) CreateEndpoint(ctx context.Context, e domain.Endpoint) error {
	_, err := s.pool().Exec(ctx, `
		INSERT INTO webhook_endpoints (`+endpointColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, e.URL, e.Description, e.Events, e.Secret, e.PreviousSecret, e.PreviousSecretExpiresAt,
		e.CreatedAt, e.UpdatedAt, e.DisabledAt, e.DisabledReason, e.LastSuccessAt)
	if err != nil {
		return fmt.Errorf("insert webhook endpoint: %w", err)
	}
	return nil
}

// GetEndpoint implements app.Store.
func (s *Store) GetEndpoint(ctx context.Context, id uuid.UUID) (domain.Endpoint, error) {
	e, err := scanEndpoint(s.pool().QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1`, id))
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return domain.Endpoint{}, fmt.Errorf("get webhook endpoint: %w", err)
	}
	return e, err
}

// ListEndpoints implements app.Store.
func (s *Store) ListEndpoints(ctx context.Context) ([]domain.Endpoint, error) {
	out, err := s.endpoints(ctx, s.pool(), `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	return out, nil
}

// UpdateEndpoint implements app.Store. It locks the row FOR NO KEY
// UPDATE, which the foreign-key checks of messages being enqueued do not
// wait for.
func (s *Store) UpdateEndpoint(ctx context.Context, id uuid.UUID, fn func(*domain.Endpoint) error) (domain.Endpoint, error) {
	var out domain.Endpoint
	err := db.InTx(ctx, s.pool(), func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool())
		if err != nil {
			return err
		}
		e, err := scanEndpoint(q.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1 FOR NO KEY UPDATE`, id))
		if err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `
			UPDATE webhook_endpoints SET url = $2, description = $3, events = $4, secret = $5, previous_secret = $6,
				previous_secret_expires_at = $7, updated_at = $8, disabled_at = $9, disabled_reason = $10, last_success_at = $11
			WHERE id = $1`,
			id, e.URL, e.Description, e.Events, e.Secret, e.PreviousSecret, e.PreviousSecretExpiresAt, e.UpdatedAt,
			e.DisabledAt, e.DisabledReason, e.LastSuccessAt); err != nil {
			return fmt.Errorf("update webhook endpoint: %w", err)
		}
		e.ID = id
		out = e
		return nil
	})
	if err != nil {
		return domain.Endpoint{}, err
	}
	return out, nil
}

// EnableEndpoint implements app.Store.
func (s *Store) EnableEndpoint(ctx context.Context, id uuid.UUID, now, expiresAt time.Time) (domain.Endpoint, error) {
	var out domain.Endpoint
	err := db.InTx(ctx, s.pool(), func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool())
		if err != nil {
			return err
		}
		out, err = scanEndpoint(q.QueryRow(ctx, `
			UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = '', updated_at = $2
			WHERE id = $1 RETURNING `+endpointColumns, id, now))
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `
			UPDATE webhook_messages SET next_attempt_at = $2, expires_at = $3, attempts = 0
			WHERE endpoint_id = $1`, id, now, expiresAt); err != nil {
			return fmt.Errorf("reschedule webhook messages: %w", err)
		}
		return nil
	})
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return domain.Endpoint{}, fmt.Errorf("enable webhook endpoint: %w", err)
	}
	return out, err
}

// DeleteEndpoint implements app.Store; its messages and attempts go with
// it (ON DELETE CASCADE).
func (s *Store) DeleteEndpoint(ctx context.Context, id uuid.UUID) error {
	tag, err := s.pool().Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// PendingMessages implements app.Store: an index-only count per endpoint
// (webhook_messages_due).
func (s *Store) PendingMessages(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int, error) {
	out := map[uuid.UUID]int{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool().Query(ctx, `
		SELECT endpoint_id, count(*) FROM webhook_messages WHERE endpoint_id = ANY($1) GROUP BY endpoint_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("count webhook messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id uuid.UUID
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count webhook messages: %w", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count webhook messages: %w", err)
	}
	return out, nil
}

// Subscribers implements app.Store: one query on the caller's lane's
// pool, outside any unit of work.
func (s *Store) Subscribers(ctx context.Context, eventTypes []string) ([]domain.Endpoint, error) {
	out, err := s.endpoints(ctx, s.pools.For(lane.From(ctx)), `
		SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE disabled_at IS NULL AND events && $1 ORDER BY created_at, id`, eventTypes)
	if err != nil {
		return nil, fmt.Errorf("read subscribed webhook endpoints: %w", err)
	}
	return out, nil
}

// Enqueue implements app.Store: one INSERT of every message, in the
// caller's unit of work.
func (s *Store) Enqueue(ctx context.Context, msgs []domain.Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	q, err := db.Q(ctx, s.pool())
	if err != nil {
		return 0, fmt.Errorf("enqueue webhook messages: %w", err)
	}
	n := len(msgs)
	ids, endpoints := make([]uuid.UUID, n), make([]uuid.UUID, n)
	keys, types := make([]string, n), make([]string, n)
	payloads := make([][]byte, n)
	created, next, expires := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	for i, m := range msgs {
		ids[i], endpoints[i], keys[i], types[i], payloads[i] = m.ID, m.EndpointID, m.EventKey, m.EventType, m.Payload
		created[i], next[i], expires[i] = m.CreatedAt, m.NextAttemptAt, m.ExpiresAt
	}
	tag, err := q.Exec(ctx, `
		INSERT INTO webhook_messages (id, endpoint_id, event_key, event_type, payload, created_at, next_attempt_at, expires_at)
		SELECT m.* FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bytea[],
			$6::timestamptz[], $7::timestamptz[], $8::timestamptz[])
			AS m(id, endpoint_id, event_key, event_type, payload, created_at, next_attempt_at, expires_at)
		WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = m.endpoint_id)
		ON CONFLICT (endpoint_id, event_key) DO NOTHING`,
		ids, endpoints, keys, types, payloads, created, next, expires)
	if err != nil {
		return 0, fmt.Errorf("enqueue webhook messages: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

const messageColumns = `id, endpoint_id, event_key, event_type, payload, created_at, next_attempt_at, expires_at, attempts`

// Claim implements app.Store: one UPDATE of the earliest due rows that no
// other transaction holds (FOR UPDATE SKIP LOCKED).
func (s *Store) Claim(ctx context.Context, endpointID uuid.UUID, now, leaseUntil time.Time, limit int) ([]domain.Message, error) {
	rows, err := s.pool().Query(ctx, `
		UPDATE webhook_messages m SET attempts = m.attempts + 1, next_attempt_at = $3
		FROM (SELECT id FROM webhook_messages WHERE endpoint_id = $1 AND next_attempt_at <= $2
			ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) due
		WHERE m.id = due.id
		RETURNING m.id, m.endpoint_id, m.event_key, m.event_type, m.payload, m.created_at, m.next_attempt_at,
			m.expires_at, m.attempts`,
		endpointID, now, leaseUntil, limit)
	if err != nil {
		return nil, fmt.Errorf("claim webhook messages: %w", err)
	}
	defer rows.Close()
	var out []domain.Message
	for rows.Next() {
		var m domain.Message
		if err := rows.Scan(&m.ID, &m.EndpointID, &m.EventKey, &m.EventType, &m.Payload, &m.CreatedAt, &m.NextAttemptAt,
			&m.ExpiresAt, &m.Attempts); err != nil {
			return nil, fmt.Errorf("claim webhook messages: %w", err)
		}
		m.CreatedAt, m.NextAttemptAt, m.ExpiresAt = m.CreatedAt.UTC(), m.NextAttemptAt.UTC(), m.ExpiresAt.UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim webhook messages: %w", err)
	}
	return out, nil
}

// Record implements app.Store in one transaction. The endpoint's row is
// locked FOR NO KEY UPDATE while the attempt is numbered, which the
// foreign-key checks of messages being enqueued do not wait for.
func (s *Store) Record(ctx context.Context, m domain.Message, a domain.Attempt, o domain.Outcome) (bool, error) {
	disabled := false
	err := db.InTx(ctx, s.pool(), func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool())
		if err != nil {
			return err
		}
		if err := q.QueryRow(ctx, `UPDATE webhook_endpoints SET attempt_seq = attempt_seq + 1 WHERE id = $1 RETURNING attempt_seq`,
			m.EndpointID).Scan(&a.Seq); errors.Is(err, pgx.ErrNoRows) {
			return nil // deleted meanwhile
		} else if err != nil {
			return fmt.Errorf("number attempt: %w", err)
		}
		if _, err := q.Exec(ctx, `
			INSERT INTO webhook_attempts (endpoint_id, seq, message_id, event_type, attempt, attempted_at, status_code, error,
				duration_us, result, next_attempt_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			m.EndpointID, a.Seq, a.MessageID, a.EventType, a.Attempt, a.At, a.StatusCode, a.Error,
			a.Duration.Microseconds(), a.Result, a.NextAttemptAt); err != nil {
			return fmt.Errorf("insert attempt: %w", err)
		}
		if _, err := q.Exec(ctx, `DELETE FROM webhook_attempts WHERE endpoint_id = $1 AND seq <= $2`,
			m.EndpointID, a.Seq-domain.HistorySize); err != nil {
			return fmt.Errorf("trim attempts: %w", err)
		}
		var sql string
		args := []any{m.ID, m.Attempts}
		switch o.Verdict {
		case domain.Delivered, domain.GiveUp:
			sql = `DELETE FROM webhook_messages WHERE id = $1 AND attempts = $2`
		case domain.Retry:
			sql, args = `UPDATE webhook_messages SET next_attempt_at = $3 WHERE id = $1 AND attempts = $2`, append(args, o.NextAttemptAt)
		default: // Gone: it waits for the endpoint to be enabled
			sql, args = `UPDATE webhook_messages SET next_attempt_at = $3 WHERE id = $1 AND attempts = $2`, append(args, a.At)
		}
		tag, err := q.Exec(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("settle message: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // claimed again since, or deleted
		}
		switch {
		case o.Verdict == domain.Delivered:
			_, err = q.Exec(ctx, `UPDATE webhook_endpoints SET last_success_at = greatest(last_success_at, $2) WHERE id = $1`,
				m.EndpointID, a.At)
		case o.DisableReason != "":
			tag, err = q.Exec(ctx, `
				UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3, updated_at = $2
				WHERE id = $1 AND disabled_at IS NULL
					AND NOT ($4 AND last_success_at IS NOT NULL AND last_success_at >= $5)`,
				m.EndpointID, a.At, o.DisableReason, o.Verdict == domain.GiveUp, m.CreatedAt)
			disabled = err == nil && tag.RowsAffected() == 1
		}
		if err != nil {
			return fmt.Errorf("update endpoint: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record webhook attempt: %w", err)
	}
	return disabled, nil
}

// ListAttempts implements app.Store.
func (s *Store) ListAttempts(ctx context.Context, endpointID uuid.UUID, limit int, cursor string) ([]domain.Attempt, string, error) {
	var before int64
	if cursor != "" {
		var err error
		if before, err = app.DecodeAttemptsCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	rows, err := s.pool().Query(ctx, `
		SELECT seq, message_id, event_type, attempt, attempted_at, status_code, error, duration_us, result, next_attempt_at
		FROM webhook_attempts WHERE endpoint_id = $1 AND ($2 = 0 OR seq < $2)
		ORDER BY seq DESC LIMIT $3`, endpointID, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook attempts: %w", err)
	}
	defer rows.Close()
	var out []domain.Attempt
	for rows.Next() {
		a := domain.Attempt{EndpointID: endpointID}
		var us int64
		if err := rows.Scan(&a.Seq, &a.MessageID, &a.EventType, &a.Attempt, &a.At, &a.StatusCode, &a.Error, &us, &a.Result,
			&a.NextAttemptAt); err != nil {
			return nil, "", fmt.Errorf("list webhook attempts: %w", err)
		}
		a.At, a.NextAttemptAt, a.Duration = a.At.UTC(), utc(a.NextAttemptAt), time.Duration(us)*time.Microsecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list webhook attempts: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = app.EncodeAttemptsCursor(out[limit-1].Seq)
	}
	return out, next, nil
}

// CountMessages implements app.Store.
func (s *Store) CountMessages(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool().QueryRow(ctx, `SELECT count(*) FROM webhook_messages`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count webhook messages: %w", err)
	}
	return n, nil
}
