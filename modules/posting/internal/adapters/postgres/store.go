// Package postgres is the PostgreSQL posting store (tables postings and
// posting_keys, migrations 00002, 00005 and 00008). Every statement goes through db.Q, so the store joins
// its caller's unit of work; it passes the same contract suite (storetest)
// as the in-memory store.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/db"
)

// Store is the PostgreSQL domain.Store. Updates of one posting are
// serialized by its row lock, so several instances may share the table.
type Store struct {
	pool *pgxpool.Pool
}

var _ domain.Store = (*Store)(nil)

// New returns a Store on pool; pool is required.
func New(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("new posting store: pool is required")
	}
	return &Store{pool: pool}, nil
}

// columns is every column of postings, in the order scan reads them.
const columns = `id, idempotency_key, from_event, from_service, notification_type, receivers, template,
	channels, template_context, resolved_context, context_resolved, priority, expires_at, send_at,
	status, next_page, walk_done, recipients, skipped, sent, failed, expired, cancelled, error,
	created_at, updated_at, completed_at, walk_paused, request_fingerprint, webhook_url`

// Create claims p's idempotency key in posting_keys, then inserts p, in
// the caller's transaction or in one of its own. The claim inserts the key,
// or takes over a row whose expiry is not after p.CreatedAt; when the key
// is held, it returns the holder instead. A concurrent claim of the same
// key waits for the first one to commit, then finds it held.
func (s *Store) Create(ctx context.Context, p domain.Posting, keyExpiresAt time.Time) (domain.Posting, bool, error) {
	if p.IdempotencyKey == "" {
		return domain.Posting{}, false, errors.New("create posting: empty idempotency key")
	}
	row, err := toRow(p)
	if err != nil {
		return domain.Posting{}, false, fmt.Errorf("create posting: %w", err)
	}
	var (
		out     domain.Posting
		created bool
	)
	err = db.InTx(ctx, s.pool, func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool)
		if err != nil {
			return fmt.Errorf("create posting: %w", err)
		}
		var holder uuid.UUID
		err = q.QueryRow(ctx, `
			INSERT INTO posting_keys AS k (key, posting_id, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET posting_id = EXCLUDED.posting_id, expires_at = EXCLUDED.expires_at
				WHERE k.expires_at <= $4
			RETURNING posting_id`,
			p.IdempotencyKey, p.ID, keyExpiresAt, p.CreatedAt).Scan(&holder)
		if errors.Is(err, pgx.ErrNoRows) {
			out, err = scan(q.QueryRow(ctx, `SELECT `+columns+` FROM postings
				WHERE id = (SELECT posting_id FROM posting_keys WHERE key = $1)`, p.IdempotencyKey))
			if err != nil {
				return fmt.Errorf("get posting by idempotency key: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		out, err = scan(q.QueryRow(ctx, `
			INSERT INTO postings (`+columns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
			        $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)
			RETURNING `+columns,
			append(append([]any{p.ID, p.IdempotencyKey}, row...), p.RequestFingerprint, p.WebhookURL)...))
		if err != nil {
			return fmt.Errorf("create posting: %w", err)
		}
		created = true
		return nil
	})
	if err != nil {
		return domain.Posting{}, false, err
	}
	return out, created, nil
}

// SweepKeys deletes the expired rows of posting_keys (the index
// posting_keys_expires_at).
func (s *Store) SweepKeys(ctx context.Context, now time.Time) (int64, error) {
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("sweep idempotency keys: %w", err)
	}
	tag, err := q.Exec(ctx, `DELETE FROM posting_keys WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("sweep idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Get returns the posting with id, or domain.ErrNotFound.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (domain.Posting, error) {
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return domain.Posting{}, fmt.Errorf("get posting: %w", err)
	}
	p, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM postings WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Posting{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Posting{}, fmt.Errorf("get posting: %w", err)
	}
	return p, nil
}

// List returns a page of postings, newest first, by keyset: the cursor
// is compared as the row (created_at, id), which the indexes serve.
func (s *Store) List(ctx context.Context, lq domain.ListQuery) ([]domain.Posting, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if lq.FromEvent != "" {
		where = append(where, "from_event = "+arg(lq.FromEvent))
	}
	if lq.Status != "" {
		where = append(where, "status = "+arg(string(lq.Status)))
	}
	if lq.NotificationType != "" {
		where = append(where, "notification_type = "+arg(lq.NotificationType))
	}
	if lq.After != nil {
		where = append(where, "(created_at, id) < ("+arg(lq.After.CreatedAt)+", "+arg(lq.After.ID)+")")
	}
	sql := `SELECT ` + columns + ` FROM postings`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY created_at DESC, id DESC`
	if lq.Limit > 0 {
		sql += ` LIMIT ` + arg(lq.Limit)
	}
	return s.query(ctx, "list postings", sql, args...)
}

// ListDue returns scheduled postings whose send_at has come, the earliest
// first (the partial index postings_due).
func (s *Store) ListDue(ctx context.Context, now time.Time, limit int) ([]domain.Posting, error) {
	sql := `SELECT ` + columns + ` FROM postings
		WHERE status = 'scheduled' AND send_at <= $1
		ORDER BY send_at, id`
	args := []any{now}
	if limit > 0 {
		sql += ` LIMIT $2`
		args = append(args, limit)
	}
	return s.query(ctx, "list due postings", sql, args...)
}

// Update locks the posting's row (SELECT … FOR UPDATE), applies fn and
// writes the result, in the caller's transaction or in one of its own.
func (s *Store) Update(ctx context.Context, id uuid.UUID, fn func(*domain.Posting) error) (domain.Posting, error) {
	var out domain.Posting
	err := db.InTx(ctx, s.pool, func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool)
		if err != nil {
			return fmt.Errorf("update posting: %w", err)
		}
		p, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM postings WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock posting: %w", err)
		}
		key := p.IdempotencyKey
		if err := fn(&p); err != nil {
			return err
		}
		row, err := toRow(p)
		if err != nil {
			return fmt.Errorf("update posting: %w", err)
		}
		// The identity (id, idempotency_key, request_fingerprint) and the
		// webhook_url never change.
		out, err = scan(q.QueryRow(ctx, `
			UPDATE postings SET
				from_event = $3, from_service = $4, notification_type = $5, receivers = $6,
				template = $7, channels = $8, template_context = $9, resolved_context = $10,
				context_resolved = $11, priority = $12, expires_at = $13, send_at = $14,
				status = $15, next_page = $16, walk_done = $17, recipients = $18, skipped = $19,
				sent = $20, failed = $21, expired = $22, cancelled = $23, error = $24,
				created_at = $25, updated_at = $26, completed_at = $27, walk_paused = $28
			WHERE id = $1 AND idempotency_key = $2
			RETURNING `+columns,
			append([]any{id, key}, row...)...))
		if err != nil {
			return fmt.Errorf("update posting: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Posting{}, err
	}
	return out, nil
}

// AddOutcomes adds delta to the counters with one UPDATE (which holds the
// row lock until the transaction ends, so a caller deciding on what it
// returns, such as resuming a paused walk, decides alone), then writes the
// status change when the posting is settled by it.
func (s *Store) AddOutcomes(ctx context.Context, id uuid.UUID, delta domain.Counters, now time.Time) (domain.Posting, bool, error) {
	var (
		out     domain.Posting
		settled bool
	)
	err := db.InTx(ctx, s.pool, func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool)
		if err != nil {
			return fmt.Errorf("add outcomes: %w", err)
		}
		p, err := scan(q.QueryRow(ctx, `
			UPDATE postings SET
				skipped = skipped + $2, sent = sent + $3, failed = failed + $4,
				expired = expired + $5, cancelled = cancelled + $6, updated_at = $7
			WHERE id = $1
			RETURNING `+columns,
			id, delta.Skipped, delta.Sent, delta.Failed, delta.Expired, delta.Cancelled, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("add outcomes: %w", err)
		}
		before := p.Status
		p.Settle(now)
		if p.Status != before {
			if _, err := q.Exec(ctx, `UPDATE postings SET status = $2, updated_at = $3, completed_at = $4 WHERE id = $1`,
				id, string(p.Status), p.UpdatedAt, p.CompletedAt); err != nil {
				return fmt.Errorf("settle posting: %w", err)
			}
			settled = p.Status.Terminal()
		}
		out = p
		return nil
	})
	if err != nil {
		return domain.Posting{}, false, err
	}
	return out, settled, nil
}

func (s *Store) query(ctx context.Context, what, sql string, args ...any) ([]domain.Posting, error) {
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []domain.Posting{}
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// toRow returns p's columns after id and idempotency_key, in the order of
// columns, up to walk_paused.
func toRow(p domain.Posting) ([]any, error) {
	given, err := encodeJSON(p.TemplateContext)
	if err != nil {
		return nil, fmt.Errorf("template context: %w", err)
	}
	resolved, err := encodeJSON(p.ResolvedContext)
	if err != nil {
		return nil, fmt.Errorf("resolved context: %w", err)
	}
	channels := p.Channels
	if channels == nil {
		channels = []string{}
	}
	c := p.Counters
	return []any{
		p.FromEvent, p.FromService, p.NotificationType, p.Receivers, p.Template,
		channels, given, resolved, p.ContextResolved, string(p.Priority), p.ExpiresAt, p.SendAt,
		string(p.Status), p.NextPage, p.WalkDone, c.Recipients, c.Skipped, c.Sent, c.Failed, c.Expired, c.Cancelled, p.Error,
		p.CreatedAt, p.UpdatedAt, p.CompletedAt, p.WalkPaused,
	}, nil
}

// scan reads one row of columns.
func scan(row pgx.Row) (domain.Posting, error) {
	var (
		p                                                  domain.Posting
		given, resolved                                    []byte
		priority, status                                   string
		recipients, skipped, sent, failed, expired, cancel int64
	)
	err := row.Scan(&p.ID, &p.IdempotencyKey, &p.FromEvent, &p.FromService, &p.NotificationType, &p.Receivers, &p.Template,
		&p.Channels, &given, &resolved, &p.ContextResolved, &priority, &p.ExpiresAt, &p.SendAt,
		&status, &p.NextPage, &p.WalkDone, &recipients, &skipped, &sent, &failed, &expired, &cancel, &p.Error,
		&p.CreatedAt, &p.UpdatedAt, &p.CompletedAt, &p.WalkPaused, &p.RequestFingerprint, &p.WebhookURL)
	if err != nil {
		return domain.Posting{}, err
	}
	if p.TemplateContext, err = decodeJSON(given); err != nil {
		return domain.Posting{}, fmt.Errorf("template context: %w", err)
	}
	if p.ResolvedContext, err = decodeJSON(resolved); err != nil {
		return domain.Posting{}, fmt.Errorf("resolved context: %w", err)
	}
	if len(p.Channels) == 0 {
		p.Channels = nil
	}
	p.Priority, p.Status = posting.Priority(priority), domain.Status(status)
	p.Counters = domain.Counters{
		Recipients: int(recipients), Skipped: int(skipped), Sent: int(sent),
		Failed: int(failed), Expired: int(expired), Cancelled: int(cancel),
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	p.ExpiresAt, p.SendAt, p.CompletedAt = utc(p.ExpiresAt), utc(p.SendAt), utc(p.CompletedAt)
	return p, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// encodeJSON returns m as JSON, or nil (SQL NULL) for a nil map.
func encodeJSON(m map[string]any) ([]byte, error) {
	if m == nil {
		return nil, nil
	}
	return json.Marshal(m)
}

// decodeJSON reverses encodeJSON.
func decodeJSON(raw []byte) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}
