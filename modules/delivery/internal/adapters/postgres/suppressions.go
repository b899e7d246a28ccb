package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Suppressions is an app.SuppressionStore in PostgreSQL (table
// delivery_suppressions, migration 00011), safe for concurrent use by
// several processes. Every statement goes straight to its pool and commits
// at once, joining no unit of work (see app.SuppressionStore): give each
// delivery lane one on the lane's own pool.
type Suppressions struct {
	pool *pgxpool.Pool
}

var _ app.SuppressionStore = (*Suppressions)(nil)

// NewSuppressions returns the suppression list on pool; pool is required.
func NewSuppressions(pool *pgxpool.Pool) (*Suppressions, error) {
	if pool == nil {
		return nil, errors.New("new suppression store: pool is required")
	}
	return &Suppressions{pool: pool}, nil
}

const suppressionColumns = `channel, address, reason, source, created_at`

// Suppressed implements app.SuppressionStore in one query: the addresses
// are joined with the primary key, one index probe each.
func (s *Suppressions) Suppressed(ctx context.Context, addrs []domain.Address) ([]domain.Address, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	channels, values := make([]string, len(addrs)), make([]string, len(addrs))
	for i, a := range addrs {
		channels[i], values[i] = a.Channel, a.Value
	}
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT s.channel, s.address
		FROM unnest($1::text[], $2::text[]) AS a (channel, address)
		JOIN delivery_suppressions s ON (s.channel, s.address) = (a.channel, a.address)`,
		channels, values)
	if err != nil {
		return nil, fmt.Errorf("look up suppressions: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Address, error) {
		var a domain.Address
		err := row.Scan(&a.Channel, &a.Value)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("look up suppressions: %w", err)
	}
	return found, nil
}

// Suppress implements app.SuppressionStore: an INSERT … ON CONFLICT DO
// NOTHING that returns the new row, else a read of the older one.
func (s *Suppressions) Suppress(ctx context.Context, e domain.Suppression) (domain.Suppression, bool, error) {
	if !domain.ValidSource(e.Source) {
		return domain.Suppression{}, false, fmt.Errorf("suppress: unknown source %q", e.Source)
	}
	row := s.pool.QueryRow(ctx, `
		INSERT INTO delivery_suppressions (channel, address, reason, source, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING
		RETURNING `+suppressionColumns,
		e.Channel, e.Value, e.Reason, e.Source, e.CreatedAt.UTC())
	added, err := scanSuppression(row)
	if err == nil {
		return added, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return domain.Suppression{}, false, fmt.Errorf("suppress: %w", err)
	}
	// On the list already: a statement of its own, so that it sees the row
	// even when another transaction committed it while the insert waited.
	old, err := scanSuppression(s.pool.QueryRow(ctx, `
		SELECT `+suppressionColumns+` FROM delivery_suppressions WHERE channel = $1 AND address = $2`,
		e.Channel, e.Value))
	if err != nil {
		return domain.Suppression{}, false, fmt.Errorf("suppress: read the entry: %w", err)
	}
	return old, false, nil
}

// ListSuppressions implements app.SuppressionStore with a keyset query on
// (created_at DESC, channel, address), the order of its index.
func (s *Suppressions) ListSuppressions(ctx context.Context, q app.SuppressionQuery) (app.SuppressionPage, error) {
	if q.Limit < 1 {
		return app.SuppressionPage{}, fmt.Errorf("list suppressions: limit %d is below 1", q.Limit)
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Channel != "" {
		where = append(where, "channel = "+arg(q.Channel))
	}
	if q.Address != "" {
		where = append(where, "address = "+arg(q.Address))
	}
	if q.Cursor != "" {
		after, err := app.DecodeSuppressionCursor(q.Cursor)
		if err != nil {
			return app.SuppressionPage{}, err
		}
		at, ch, addr := arg(after.CreatedAt), arg(after.Address.Channel), arg(after.Address.Value)
		where = append(where, fmt.Sprintf("(created_at < %s OR (created_at = %s AND (channel, address) > (%s, %s)))", at, at, ch, addr))
	}
	sql := `SELECT ` + suppressionColumns + ` FROM delivery_suppressions`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY created_at DESC, channel, address LIMIT ` + arg(q.Limit+1) // one more tells whether a next page exists
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return app.SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Suppression, error) { return scanSuppression(row) })
	if err != nil {
		return app.SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
	}
	var page app.SuppressionPage
	if len(items) > q.Limit {
		items = items[:q.Limit]
		page.NextCursor = app.EncodeSuppressionCursor(items[len(items)-1])
	}
	page.Items = items
	return page, nil
}

// Unsuppress implements app.SuppressionStore.
func (s *Suppressions) Unsuppress(ctx context.Context, addr domain.Address) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM delivery_suppressions WHERE channel = $1 AND address = $2`, addr.Channel, addr.Value)
	if err != nil {
		return fmt.Errorf("unsuppress: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return app.ErrSuppressionNotFound
	}
	return nil
}

func scanSuppression(row pgx.Row) (domain.Suppression, error) {
	var e domain.Suppression
	if err := row.Scan(&e.Channel, &e.Value, &e.Reason, &e.Source, &e.CreatedAt); err != nil {
		return domain.Suppression{}, err
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, nil
}
