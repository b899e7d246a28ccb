// Package postgres is the PostgreSQL adapter of the preferences store
// (table user_preferences, migration 00003). Every statement goes through
// db.Q, so the store joins its caller's unit of work.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/db"
)

// Store keeps each user's overrides in one row, the two maps as JSONB.
type Store struct {
	pool *pgxpool.Pool
}

var _ app.Store = (*Store)(nil)

// NewStore returns a Store on pool; pool is required.
func NewStore(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("new preferences store: pool is required")
	}
	return &Store{pool: pool}, nil
}

const selectPreferences = `SELECT user_id, channels, types, per_type, quiet_hours, updated_at FROM user_preferences`

// Get implements app.Store.
func (s *Store) Get(ctx context.Context, userID string) (domain.UserPreferences, bool, error) {
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return domain.UserPreferences{}, false, fmt.Errorf("get preferences: %w", err)
	}
	p, err := scan(q.QueryRow(ctx, selectPreferences+` WHERE user_id = $1`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.UserPreferences{}, false, nil
	}
	if err != nil {
		return domain.UserPreferences{}, false, fmt.Errorf("get preferences: %w", err)
	}
	return p, true, nil
}

// GetMany implements app.Store with one statement, whatever the number of
// ids.
func (s *Store) GetMany(ctx context.Context, userIDs []string) (map[string]domain.UserPreferences, error) {
	out := make(map[string]domain.UserPreferences)
	if len(userIDs) == 0 {
		return out, ctx.Err()
	}
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("get preferences: %w", err)
	}
	rows, err := q.Query(ctx, selectPreferences+` WHERE user_id = ANY($1)`, userIDs)
	if err != nil {
		return nil, fmt.Errorf("get preferences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("get preferences: %w", err)
		}
		out[p.UserID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get preferences: %w", err)
	}
	return out, nil
}

// Put implements app.Store with one upsert. It refuses an empty user id.
func (s *Store) Put(ctx context.Context, prefs domain.UserPreferences) error {
	if prefs.UserID == "" {
		return errors.New("put preferences: empty user id")
	}
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("put preferences: %w", err)
	}
	perType := prefs.Overrides.PerType
	if perType == nil {
		perType = map[string]map[string]bool{}
	}
	_, err = q.Exec(ctx, `
		INSERT INTO user_preferences (user_id, channels, types, per_type, quiet_hours, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id) DO UPDATE
		SET channels = EXCLUDED.channels, types = EXCLUDED.types, per_type = EXCLUDED.per_type,
		    quiet_hours = EXCLUDED.quiet_hours, updated_at = EXCLUDED.updated_at`,
		prefs.UserID, object(prefs.Overrides.Channels), object(prefs.Overrides.Types), perType,
		prefs.Overrides.QuietHours, prefs.UpdatedAt.UTC())
	if err != nil {
		return fmt.Errorf("put preferences: %w", err)
	}
	return nil
}

// Update implements app.Store: in one transaction (its caller's, if any),
// it locks the user's row (making an empty one when there is none, so that
// two first updates of a user also wait for each other), applies change and
// stores the result. Nothing is stored when change fails.
func (s *Store) Update(ctx context.Context, userID string, change func(domain.UserPreferences) (domain.UserPreferences, error)) (domain.UserPreferences, error) {
	if userID == "" {
		return domain.UserPreferences{}, errors.New("update preferences: empty user id")
	}
	var out domain.UserPreferences
	err := db.InTx(ctx, s.pool, func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool)
		if err != nil {
			return err
		}
		// The row made here, if the user had none, is locked until the
		// end of the transaction (and gone with it if change fails).
		var made string
		err = q.QueryRow(ctx, `
			INSERT INTO user_preferences (user_id, updated_at) VALUES ($1, now())
			ON CONFLICT (user_id) DO NOTHING RETURNING user_id`, userID).Scan(&made)
		current := domain.UserPreferences{UserID: userID}
		switch {
		case errors.Is(err, pgx.ErrNoRows): // the user has a row: lock and read it
			if current, err = scan(q.QueryRow(ctx, selectPreferences+` WHERE user_id = $1 FOR UPDATE`, userID)); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		next, err := change(current)
		if err != nil {
			return err
		}
		next.UserID = userID
		if err := s.Put(ctx, next); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return domain.UserPreferences{}, fmt.Errorf("update preferences: %w", err)
	}
	return out, nil
}

// object returns m, or an empty map for nil (which JSON would encode as
// null, not as an object).
func object(m map[string]bool) map[string]bool {
	if m == nil {
		return map[string]bool{}
	}
	return m
}

func scan(row pgx.Row) (domain.UserPreferences, error) {
	var (
		p       domain.UserPreferences
		updated time.Time
	)
	if err := row.Scan(&p.UserID, &p.Overrides.Channels, &p.Overrides.Types, &p.Overrides.PerType, &p.Overrides.QuietHours, &updated); err != nil {
		return domain.UserPreferences{}, err
	}
	p.UpdatedAt = updated.UTC()
	return p, nil
}
