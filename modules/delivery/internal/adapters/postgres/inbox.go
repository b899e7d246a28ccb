package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Inbox is an app.InboxStore in PostgreSQL (table inbox_messages, migration
// 00019), safe for concurrent use by several processes. Every statement
// commits at once.
type Inbox struct {
	pool *pgxpool.Pool
}

var _ app.InboxStore = (*Inbox)(nil)

// NewInbox returns the inbox store on pool; pool is required.
func NewInbox(pool *pgxpool.Pool) (*Inbox, error) {
	if pool == nil {
		return nil, errors.New("new inbox store: pool is required")
	}
	return &Inbox{pool: pool}, nil
}

const inboxColumns = `id, user_id, posting_id, notification_type, title, body, created_at, read_at, expires_at`

// notExpired is the condition on a message not expired at the parameter
// it names.
func notExpired(param string) string { return `(expires_at IS NULL OR expires_at > ` + param + `)` }

// Add implements app.InboxStore.
func (s *Inbox) Add(ctx context.Context, m domain.InboxMessage) (bool, error) {
	var expires *time.Time
	if m.ExpiresAt != nil {
		at := m.ExpiresAt.UTC()
		expires = &at
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO inbox_messages (`+inboxColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)
		ON CONFLICT (id) DO NOTHING`,
		m.ID, m.UserID, m.PostingID, m.NotificationType, m.Title, m.Body, m.CreatedAt.UTC(), expires)
	if err != nil {
		return false, fmt.Errorf("add inbox message: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// List implements app.InboxStore.
func (s *Inbox) List(ctx context.Context, q app.InboxQuery) (app.InboxPage, error) {
	args := []any{q.UserID, q.Now.UTC(), q.Limit + 1}
	where := `user_id = $1 AND ` + notExpired("$2")
	if q.UnreadOnly {
		where += ` AND read_at IS NULL`
	}
	if q.Cursor != "" {
		c, err := app.DecodeInboxCursor(q.Cursor)
		if err != nil {
			return app.InboxPage{}, err
		}
		args = append(args, c.CreatedAt, c.ID)
		where += ` AND (created_at, id) < ($4, $5 COLLATE "C")`
	}
	rows, err := s.pool.Query(ctx, `SELECT `+inboxColumns+` FROM inbox_messages WHERE `+where+`
		ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $3`, args...)
	if err != nil {
		return app.InboxPage{}, fmt.Errorf("list inbox: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanInboxRow)
	if err != nil {
		return app.InboxPage{}, fmt.Errorf("list inbox: %w", err)
	}
	page := app.InboxPage{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		page.NextCursor = app.EncodeInboxCursor(page.Items[q.Limit-1])
	}
	if page.Items == nil {
		page.Items = []domain.InboxMessage{}
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM inbox_messages WHERE user_id = $1 AND read_at IS NULL AND `+notExpired("$2"),
		q.UserID, q.Now.UTC()).Scan(&page.Unread)
	if err != nil {
		return app.InboxPage{}, fmt.Errorf("count unread inbox messages: %w", err)
	}
	return page, nil
}

// Since implements app.InboxStore.
func (s *Inbox) Since(ctx context.Context, userID string, from, now time.Time, limit int) ([]domain.InboxMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+inboxColumns+` FROM inbox_messages
		WHERE user_id = $1 AND created_at >= $2 AND `+notExpired("$3")+`
		ORDER BY created_at, id COLLATE "C" LIMIT $4`, userID, from.UTC(), now.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("read new inbox messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, scanInboxRow)
	if err != nil {
		return nil, fmt.Errorf("read new inbox messages: %w", err)
	}
	return msgs, nil
}

// Get implements app.InboxStore.
func (s *Inbox) Get(ctx context.Context, userID, id string, now time.Time) (domain.InboxMessage, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+inboxColumns+` FROM inbox_messages
		WHERE id = $1 AND user_id = $2 AND `+notExpired("$3"), id, userID, now.UTC())
	m, err := scanInbox(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.InboxMessage{}, app.ErrInboxMessageNotFound
	}
	if err != nil {
		return domain.InboxMessage{}, fmt.Errorf("get inbox message: %w", err)
	}
	return m, nil
}

// MarkRead implements app.InboxStore: one UPDATE that keeps the first
// read_at.
func (s *Inbox) MarkRead(ctx context.Context, userID, id string, at time.Time) (domain.InboxMessage, error) {
	row := s.pool.QueryRow(ctx, `UPDATE inbox_messages SET read_at = coalesce(read_at, $3)
		WHERE id = $1 AND user_id = $2 AND `+notExpired("$3")+`
		RETURNING `+inboxColumns, id, userID, at.UTC())
	m, err := scanInbox(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.InboxMessage{}, app.ErrInboxMessageNotFound
	}
	if err != nil {
		return domain.InboxMessage{}, fmt.Errorf("mark inbox message read: %w", err)
	}
	return m, nil
}

// DeleteExpired implements app.InboxStore.
func (s *Inbox) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM inbox_messages WHERE expires_at <= $1`, now.UTC())
	if err != nil {
		return 0, fmt.Errorf("delete expired inbox messages: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func scanInboxRow(row pgx.CollectableRow) (domain.InboxMessage, error) { return scanInbox(row) }

func scanInbox(row pgx.Row) (domain.InboxMessage, error) {
	var (
		m       domain.InboxMessage
		readAt  *time.Time
		expires *time.Time
	)
	if err := row.Scan(&m.ID, &m.UserID, &m.PostingID, &m.NotificationType, &m.Title, &m.Body, &m.CreatedAt, &readAt, &expires); err != nil {
		return domain.InboxMessage{}, err
	}
	m.CreatedAt = m.CreatedAt.UTC()
	if readAt != nil {
		m.ReadAt = readAt.UTC()
	}
	if expires != nil {
		at := expires.UTC()
		m.ExpiresAt = &at
	}
	return m, nil
}
