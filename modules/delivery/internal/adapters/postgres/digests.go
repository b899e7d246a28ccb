package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/db"
)

// Digests keeps digests in delivery_digests and their parts in
// delivery_digest_parts (migration 00020), safe for concurrent use by
// several processes.
type Digests struct {
	pool *pgxpool.Pool
}

var _ app.DigestStore = (*Digests)(nil)

// NewDigests returns the store on pool; pool is required.
func NewDigests(pool *pgxpool.Pool) (*Digests, error) {
	if pool == nil {
		return nil, errors.New("new digest store: pool is required")
	}
	return &Digests{pool: pool}, nil
}

// holdAttempts bounds the rounds of Hold: a round misses a digest only
// when a flush closed it between the round's insert and its lock, which
// for one key happens once a window. Past them Hold fails, changing
// nothing, and the batch is tried again.
const holdAttempts = 10

// Hold implements app.DigestStore in a transaction of its own, committed
// at once (it joins no unit of work: the lock it takes on the open digests
// would hold up their flush). Each round opens the digests missing (INSERT
// … ON CONFLICT DO NOTHING on the partial unique index of open digests),
// then locks the open digests of the keys (FOR UPDATE: a flush closing one
// is waited for, and the closed one is then no longer selected, so that
// round opens the next); the parts go in with INSERT … ON CONFLICT DO
// NOTHING on their primary key, and a digest opened for parts that were
// all held already is deleted again.
func (s *Digests) Hold(ctx context.Context, parts []app.HeldPart) error {
	if len(parts) == 0 {
		return nil
	}
	type open struct {
		key  app.DigestKey
		lane string
		due  time.Time
		at   time.Time
	}
	var keys []open
	seen := map[app.DigestKey]bool{}
	for _, p := range parts {
		if !seen[p.Key] {
			seen[p.Key] = true
			keys = append(keys, open{key: p.Key, lane: p.Lane, due: p.Due.UTC(), at: p.Part.AddedAt.UTC()})
		}
	}
	// In one order in every transaction (the inserts' waits on each
	// other's keys, and the row locks, come in it), so that two holds of
	// the same users never wait on each other in a circle.
	slices.SortFunc(keys, func(a, b open) int {
		return cmp.Or(strings.Compare(a.key.UserID, b.key.UserID), strings.Compare(a.key.Type, b.key.Type),
			strings.Compare(a.key.Channel, b.key.Channel))
	})
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		found := map[app.DigestKey]string{}
		var opened []uuid.UUID
		for range holdAttempts {
			var missing []open
			for _, k := range keys {
				if _, ok := found[k.key]; !ok {
					missing = append(missing, k)
				}
			}
			if len(missing) == 0 {
				break
			}
			n := len(missing)
			ids, users, types, channels, lanes := make([]uuid.UUID, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			dues, ats := make([]time.Time, n), make([]time.Time, n)
			for i, k := range missing {
				ids[i] = uuid.New()
				users[i], types[i], channels[i], lanes[i], dues[i], ats[i] = k.key.UserID, k.key.Type, k.key.Channel, k.lane, k.due, k.at
			}
			opened = append(opened, ids...)
			if _, err := tx.Exec(ctx, `
				INSERT INTO delivery_digests (id, user_id, type, channel, lane, due_at, created_at)
				SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
				ON CONFLICT (user_id, type, channel) WHERE closed_at IS NULL DO NOTHING`,
				ids, users, types, channels, lanes, dues, ats); err != nil {
				return fmt.Errorf("open digests: %w", err)
			}
			rows, err := tx.Query(ctx, `
				SELECT d.id, d.user_id, d.type, d.channel
				FROM delivery_digests d
				JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (user_id, type, channel)
				  ON (d.user_id, d.type, d.channel) = (k.user_id, k.type, k.channel)
				WHERE d.closed_at IS NULL
				ORDER BY d.user_id, d.type, d.channel
				FOR UPDATE OF d`, users, types, channels)
			if err != nil {
				return fmt.Errorf("lock open digests: %w", err)
			}
			for rows.Next() {
				var (
					id uuid.UUID
					k  app.DigestKey
				)
				if err := rows.Scan(&id, &k.UserID, &k.Type, &k.Channel); err != nil {
					rows.Close()
					return fmt.Errorf("lock open digests: %w", err)
				}
				found[k] = id.String()
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("lock open digests: %w", err)
			}
		}
		n := len(parts)
		postings, users, channels, digests := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		added, docs := make([]time.Time, n), make([]string, n)
		for i, p := range parts {
			id, ok := found[p.Key]
			if !ok {
				return fmt.Errorf("hold digest parts: no open digest for %s/%s after %d rounds", p.Key.Type, p.Key.Channel, holdAttempts)
			}
			raw, err := json.Marshal(p.Part)
			if err != nil {
				return fmt.Errorf("hold digest parts: %w", err)
			}
			postings[i], users[i], channels[i], digests[i] = p.Part.PostingID, p.Key.UserID, p.Key.Channel, id
			added[i], docs[i] = p.Part.AddedAt.UTC(), string(raw)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO delivery_digest_parts (posting_id, user_id, channel, digest_id, added_at, part)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::jsonb[])
			ON CONFLICT DO NOTHING`, postings, users, channels, digests, added, docs); err != nil {
			return fmt.Errorf("hold digest parts: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			DELETE FROM delivery_digests d WHERE d.id = ANY($1)
			  AND NOT EXISTS (SELECT 1 FROM delivery_digest_parts p WHERE p.digest_id = d.id)`, opened); err != nil {
			return fmt.Errorf("drop empty digests: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hold for digests: %w", err)
	}
	return nil
}

const digestColumns = `id, user_id, type, channel, lane, due_at, created_at, closed_at`

func scanDigest(row pgx.Row) (app.Digest, error) {
	var (
		d      app.Digest
		id     uuid.UUID
		closed *time.Time
	)
	if err := row.Scan(&id, &d.Key.UserID, &d.Key.Type, &d.Key.Channel, &d.Lane, &d.DueAt, &d.CreatedAt, &closed); err != nil {
		return app.Digest{}, err
	}
	d.ID = id.String()
	if closed != nil {
		d.ClosedAt = *closed
	}
	return d, nil
}

// Due implements app.DigestStore: one transaction (the caller's, if ctx
// carries one) locks the due open digests (SKIP LOCKED: other instances
// take others, and a Hold adding to one is not waited for), closes them
// and runs send in it, so that the batches send publishes (through the
// outbox) commit with the closing.
func (s *Digests) Due(ctx context.Context, now time.Time, limit int, send func(context.Context, []app.Digest) error) (int, error) {
	n := 0
	err := db.InTx(ctx, s.pool, func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool)
		if err != nil {
			return err
		}
		rows, err := q.Query(ctx, `
			SELECT `+digestColumns+` FROM delivery_digests
			WHERE closed_at IS NULL AND due_at <= $1
			ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now.UTC(), limit)
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.Digest, error) { return scanDigest(row) })
		if err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		ids := make([]string, len(due))
		for i := range due {
			ids[i] = due[i].ID
			due[i].ClosedAt = now.UTC()
		}
		if _, err := q.Exec(ctx, `UPDATE delivery_digests SET closed_at = $1 WHERE id = ANY($2::uuid[])`, now.UTC(), ids); err != nil {
			return err
		}
		if err := send(ctx, due); err != nil {
			return err
		}
		n = len(due)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("close due digests: %w", err)
	}
	return n, nil
}

// Load implements app.DigestStore in two queries.
func (s *Digests) Load(ctx context.Context, id string) (app.Digest, []app.DigestPart, bool, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return app.Digest{}, nil, false, nil
	}
	d, err := scanDigest(s.pool.QueryRow(ctx, `SELECT `+digestColumns+` FROM delivery_digests WHERE id = $1`, uid))
	if errors.Is(err, pgx.ErrNoRows) {
		return app.Digest{}, nil, false, nil
	}
	if err != nil {
		return app.Digest{}, nil, false, fmt.Errorf("load digest: %w", err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT part FROM delivery_digest_parts WHERE digest_id = $1 ORDER BY added_at, posting_id`, uid)
	if err != nil {
		return app.Digest{}, nil, false, fmt.Errorf("load digest parts: %w", err)
	}
	parts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.DigestPart, error) {
		var (
			raw []byte
			p   app.DigestPart
		)
		if err := row.Scan(&raw); err != nil {
			return p, err
		}
		return p, json.Unmarshal(raw, &p)
	})
	if err != nil {
		return app.Digest{}, nil, false, fmt.Errorf("load digest parts: %w", err)
	}
	return d, parts, true, nil
}

// OpenOf implements app.DigestStore in one query on the partial index of
// open digests.
func (s *Digests) OpenOf(ctx context.Context, userID string) ([]app.OpenDigest, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT d.id, d.user_id, d.type, d.channel, d.lane, d.due_at, d.created_at, d.closed_at,
		       (SELECT count(*) FROM delivery_digest_parts p WHERE p.digest_id = d.id)
		FROM delivery_digests d
		WHERE d.user_id = $1 AND d.closed_at IS NULL
		ORDER BY d.due_at, d.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list open digests: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.OpenDigest, error) {
		var (
			o      app.OpenDigest
			id     uuid.UUID
			closed *time.Time
		)
		err := row.Scan(&id, &o.Key.UserID, &o.Key.Type, &o.Key.Channel, &o.Lane, &o.DueAt, &o.CreatedAt, &closed, &o.Parts)
		o.ID = id.String()
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("list open digests: %w", err)
	}
	return out, nil
}

// purgeChunk bounds the digests one DELETE of Purge removes.
const purgeChunk = 1000

// Purge implements app.DigestStore, a chunk of digests (and their parts,
// by the foreign key's cascade) per statement.
func (s *Digests) Purge(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `
			DELETE FROM delivery_digests WHERE id IN (
				SELECT id FROM delivery_digests WHERE closed_at < $1 LIMIT $2)`, before.UTC(), purgeChunk)
		if err != nil {
			return total, fmt.Errorf("purge digests: %w", err)
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < purgeChunk {
			return total, nil
		}
	}
}
