// Package postgres is the PostgreSQL Store of the delivery module (tables
// deliveries, delivery_cancelled_postings and delivery_batch_leases,
// migrations 00004, 00006 and 00007).
// It passes the same contract suite (storetest) as the memory store.
//
// Row transitions go straight to the pool and commit at once, even when the
// context carries a unit of work: a "sent" mark must survive a rollback of
// the handler's transaction, or the redelivered batch would send the
// message again, and a batch must not keep a transaction open while it
// waits for SMTP servers. The per-row ones (RecordAttempt, Finish) commit
// without waiting for the disk: see commitWithoutFlush for what a server
// crash can cost; Finish groups the marks of concurrent workers into one
// statement (finish.go). CancelPosting, Report and ListByPosting go through
// db.Q and join the caller's unit of work. IsCancelled remembers its answer
// for a while (cancelled.go).
//
// Only the primary key and (user_id, created_at, posting_id, channel) are
// indexed, columns that never change, so that a row's updates (its final
// status, its reported flag) write no index entry (migrations 00006 and
// 00016).
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/db"
)

// Store is an app.Store in PostgreSQL, safe for concurrent use by several
// processes.
type Store struct {
	pool      *pgxpool.Pool
	marks     markQueue
	cancelled cancellations
}

var _ app.Store = (*Store)(nil)

// New returns a Store on pool; pool is required.
func New(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("new delivery store: pool is required")
	}
	return &Store{pool: pool, marks: newMarkQueue()}, nil
}

// columns are the columns scan reads, in its order.
const columns = `posting_id, user_id, channel, status, attempts, error, message_id,
	created_at, updated_at, sent_at, reported, provider`

// InsertPending implements app.Store in one round trip: the insert and the
// read of what is pending go together in one pgx.Batch. The read is a
// statement of its own so that it sees rows another instance inserted
// meanwhile (a statement does not see the rows its own data-modifying CTE
// skipped on conflict).
func (s *Store) InsertPending(ctx context.Context, keys []domain.Key, at time.Time) ([]domain.Delivery, error) {
	for _, k := range keys {
		if !k.Valid() {
			return nil, fmt.Errorf("insert deliveries: invalid key %q/%q/%q", k.PostingID, k.UserID, k.Channel)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	postings, users, channels := split(keys)
	b := &pgx.Batch{}
	// Sorted, so that two instances inserting overlapping batches lock the
	// keys in the same order.
	b.Queue(`
		INSERT INTO deliveries (posting_id, user_id, channel, created_at, updated_at)
		SELECT k.posting_id, k.user_id, k.channel, $4, $4
		FROM unnest($1::text[], $2::text[], $3::text[]) AS k (posting_id, user_id, channel)
		ORDER BY 1, 2, 3
		ON CONFLICT DO NOTHING`,
		postings, users, channels, at.UTC())
	b.Queue(`
		SELECT `+prefixed("d", columns)+`
		FROM (
			SELECT posting_id, user_id, channel, min(n) AS n
			FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (posting_id, user_id, channel, n)
			GROUP BY 1, 2, 3
		) k
		JOIN deliveries d ON (d.posting_id, d.user_id, d.channel) = (k.posting_id, k.user_id, k.channel)
		WHERE d.status = 'pending'
		ORDER BY k.n`,
		postings, users, channels)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("insert deliveries: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("read pending deliveries: %w", err)
	}
	pending, err := collect(rows, len(keys))
	if err != nil {
		return nil, fmt.Errorf("read pending deliveries: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("insert deliveries: %w", err)
	}
	return pending, nil
}

// commitWithoutFlush runs the statements queue adds in a transaction of
// their own that commits without waiting for the disk, all in one round
// trip: BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL
// plan_cache_mode = auto; …; COMMIT. The statements must be lookups by
// primary key (see finishGroup).
//
// It is how the marks (RecordAttempt, the groups of Finish) stay cheap
// while the delivery workers write them as their messages are accepted
// (see BenchmarkConcurrentSentMarks: 5,000 marks from 10 goroutines on a
// local server, 16,000 marks/s grouped, 7,900-9,400 one transaction each,
// 5,200-8,500 synchronous). What it costs:
//   - An application crash loses nothing: the commit is in the server's
//     memory and reaches the disk without the application.
//   - A crash of the PostgreSQL server itself can lose the marks of the
//     last moments (up to 3 × wal_writer_delay: 0.6 s by default). Those
//     rows are pending again after the restart; their batch was not
//     reported (the report commits synchronously, which flushes every
//     earlier commit with it) so it is redelivered and sends them again,
//     with the same Message-ID (SMS: the same idempotency_key) for the
//     receiver to drop the copy: the same window as a crash between a
//     send and its mark.
//   - Nothing else is weakened: a commit that could be lost is never
//     visible as lost to a reader, and the report, the outbox and every
//     other write keep synchronous commits.
func (s *Store) commitWithoutFlush(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = off")
	// Its statements are key lookups whose generic plan cannot go wrong:
	// let PostgreSQL cache it rather than plan each one again (db.Open
	// plans every statement with its parameters otherwise).
	b.Queue("SET LOCAL plan_cache_mode = auto")
	queue(b)
	b.Queue("COMMIT")
	// A failed statement leaves the connection in an aborted transaction;
	// the pool closes such a connection when it is released.
	return s.pool.SendBatch(ctx, b).Close()
}

// RecordAttempt implements app.Store; the write commits without waiting
// for the disk (see commitWithoutFlush).
func (s *Store) RecordAttempt(ctx context.Context, key domain.Key, errText string, at time.Time) (bool, error) {
	var changed bool
	err := s.commitWithoutFlush(ctx, func(b *pgx.Batch) {
		b.Queue(`
			UPDATE deliveries SET attempts = attempts + 1, error = $4, updated_at = $5
			WHERE posting_id = $1 AND user_id = $2 AND channel = $3 AND status = 'pending'`,
			key.PostingID, key.UserID, key.Channel, errText, at.UTC(),
		).Exec(func(tag pgconn.CommandTag) error {
			changed = tag.RowsAffected() == 1
			return nil
		})
	})
	if err != nil {
		return false, fmt.Errorf("record delivery attempt: %w", err)
	}
	return changed, nil
}

// FinishMany implements app.Store with one UPDATE … FROM unnest.
func (s *Store) FinishMany(ctx context.Context, transitions []app.Transition) (int, error) {
	n := len(transitions)
	if n == 0 {
		return 0, nil
	}
	var (
		postings, users, channels = make([]string, n), make([]string, n), make([]string, n)
		statuses, errTexts, ids   = make([]string, n), make([]string, n), make([]string, n)
		providers                 = make([]string, n)
		attempts                  = make([]int32, n)
		ats                       = make([]time.Time, n)
	)
	for i, t := range transitions {
		if !domain.IsFinal(t.Final.Status) {
			return 0, fmt.Errorf("finish deliveries: %q is not a final status", t.Final.Status)
		}
		postings[i], users[i], channels[i] = t.Key.PostingID, t.Key.UserID, t.Key.Channel
		statuses[i], errTexts[i], ids[i] = t.Final.Status, t.Final.Error, t.Final.MessageID
		providers[i] = t.Final.Provider
		attempts[i], ats[i] = attempted(t.Final), t.Final.At.UTC()
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE deliveries d
		SET status = u.status, error = u.error, message_id = u.message_id,
		    attempts = d.attempts + u.attempted, updated_at = u.at,
		    sent_at = CASE WHEN u.status = 'sent' THEN u.at END, provider = u.provider
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::timestamptz[], $9::text[])
		     AS u (posting_id, user_id, channel, status, error, message_id, attempted, at, provider)
		WHERE (d.posting_id, d.user_id, d.channel) = (u.posting_id, u.user_id, u.channel)
		  AND d.status = 'pending'`,
		postings, users, channels, statuses, errTexts, ids, attempts, ats, providers)
	if err != nil {
		return 0, fmt.Errorf("finish deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Report implements app.Store. In the caller's unit of work (or a
// transaction of its own when ctx carries none), each chunk is one UPDATE
// that marks the unreported final rows of scope reported and returns them
// (a concurrent report of the same rows waits for the row locks, then
// finds them reported and skips them); publish then gets them, with the
// transaction in its context. A publish error rolls back a transaction
// Report began; in the caller's unit of work the marks stand until the
// caller, given the error, rolls back, as every handler does.
//
// A whole posting (no keys) goes in key order, each chunk after the last
// row of the one before, so a cancellation of a large posting reads each
// row once.
func (s *Store) Report(ctx context.Context, scope app.ReportScope, publish func(context.Context, []domain.Delivery) error) (int, error) {
	if scope.Keys != nil && len(scope.Keys) == 0 {
		return 0, nil
	}
	total := 0
	err := db.InTx(ctx, s.pool, func(ctx context.Context) error {
		q, err := db.Q(ctx, s.pool)
		if err != nil {
			return err
		}
		var after *domain.Key
		for {
			query, args := reportQuery(scope, after)
			rows, err := q.Query(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("mark deliveries reported: %w", err)
			}
			chunk, err := collect(rows, scope.Chunk)
			if err != nil {
				return fmt.Errorf("mark deliveries reported: %w", err)
			}
			if len(chunk) == 0 {
				return nil
			}
			slices.SortFunc(chunk, func(a, b domain.Delivery) int {
				return cmp.Or(strings.Compare(a.UserID, b.UserID), strings.Compare(a.Channel, b.Channel))
			})
			if err := publish(ctx, chunk); err != nil {
				return err
			}
			total += len(chunk)
			if scope.Chunk <= 0 || scope.Keys != nil {
				return nil
			}
			// A short chunk does not mean the end: rows another report
			// marked while this one waited for their locks are skipped.
			after = &chunk[len(chunk)-1].Key
		}
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// reportQuery is the UPDATE … RETURNING of one chunk of a report: the rows
// of scope's keys, or the next scope.Chunk rows of the posting after after
// (in key order; the chunk's rows are locked in that order).
func reportQuery(scope app.ReportScope, after *domain.Key) (string, []any) {
	if scope.Keys != nil {
		// Joined on the whole key, the posting's id included, so that each
		// row is looked up through the primary key: with a constant
		// posting id the planner, when the table has no statistics yet
		// (a new deployment's first mailing), takes the posting for a
		// small part of the table and scans every row of it, each batch.
		postings := make([]string, len(scope.Keys))
		for i := range postings {
			postings[i] = scope.PostingID
		}
		_, users, channels := split(scope.Keys)
		return `
			UPDATE deliveries d SET reported = true
			FROM unnest($1::text[], $2::text[], $3::text[]) AS k (posting_id, user_id, channel)
			WHERE (d.posting_id, d.user_id, d.channel) = (k.posting_id, k.user_id, k.channel)
			  AND NOT d.reported AND d.status <> 'pending'
			RETURNING ` + prefixed("d", columns), []any{postings, users, channels}
	}
	args := []any{scope.PostingID}
	from := ""
	if after != nil {
		args = append(args, after.UserID, after.Channel)
		from = ` AND (d.user_id, d.channel) > ($2, $3)`
	}
	limit := ""
	if scope.Chunk > 0 {
		limit = fmt.Sprintf(` LIMIT %d`, scope.Chunk)
	}
	return `
		UPDATE deliveries u SET reported = true
		FROM (
			SELECT d.posting_id, d.user_id, d.channel FROM deliveries d
			WHERE d.posting_id = $1 AND NOT d.reported AND d.status <> 'pending'` + from + `
			ORDER BY d.user_id, d.channel` + limit + `
			FOR UPDATE
		) d
		WHERE (u.posting_id, u.user_id, u.channel) = (d.posting_id, d.user_id, d.channel)
		RETURNING ` + prefixed("u", columns), args
}

// ListByPosting implements app.Store with a keyset query on the primary key
// (filtered by status, if asked, as it walks the posting's rows).
func (s *Store) ListByPosting(ctx context.Context, postingID string, lq app.ListQuery) (app.Page, error) {
	if lq.Limit < 1 {
		return app.Page{}, fmt.Errorf("list deliveries: limit %d is below 1", lq.Limit)
	}
	var sql strings.Builder
	sql.WriteString(`SELECT ` + columns + ` FROM deliveries WHERE posting_id = $1`)
	args := []any{postingID}
	if lq.Status != "" {
		args = append(args, lq.Status)
		fmt.Fprintf(&sql, ` AND status = $%d`, len(args))
	}
	if lq.Cursor != "" {
		after, err := app.DecodeCursor(postingID, lq.Cursor)
		if err != nil {
			return app.Page{}, err
		}
		args = append(args, after.UserID, after.Channel)
		fmt.Fprintf(&sql, ` AND (user_id, channel) > ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, lq.Limit+1) // one more tells whether a next page exists
	fmt.Fprintf(&sql, ` ORDER BY user_id, channel LIMIT $%d`, len(args))

	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return app.Page{}, fmt.Errorf("list deliveries: %w", err)
	}
	rows, err := q.Query(ctx, sql.String(), args...)
	if err != nil {
		return app.Page{}, fmt.Errorf("list deliveries: %w", err)
	}
	items, err := collect(rows, lq.Limit+1)
	if err != nil {
		return app.Page{}, fmt.Errorf("list deliveries: %w", err)
	}
	var page app.Page
	if len(items) > lq.Limit {
		items = items[:lq.Limit]
		page.NextCursor = app.EncodeCursor(items[len(items)-1].Key)
	}
	page.Items = items
	return page, nil
}

// ListByUser implements app.Store with a keyset query on the index
// deliveries_user_created (user_id, created_at, posting_id, channel, all
// but the user descending; migration 00016): the page is read in index
// order, the channel filtered on the index entries, the status on the rows
// read.
func (s *Store) ListByUser(ctx context.Context, userID string, lq app.UserListQuery) (app.Page, error) {
	if lq.Limit < 1 {
		return app.Page{}, fmt.Errorf("list user deliveries: limit %d is below 1", lq.Limit)
	}
	var sql strings.Builder
	sql.WriteString(`SELECT ` + columns + ` FROM deliveries WHERE user_id = $1`)
	args := []any{userID}
	if lq.Status != "" {
		args = append(args, lq.Status)
		fmt.Fprintf(&sql, ` AND status = $%d`, len(args))
	}
	if lq.Channel != "" {
		args = append(args, lq.Channel)
		fmt.Fprintf(&sql, ` AND channel = $%d`, len(args))
	}
	if lq.Cursor != "" {
		after, err := app.DecodeUserCursor(lq.Cursor)
		if err != nil {
			return app.Page{}, err
		}
		args = append(args, after.CreatedAt, after.PostingID, after.Channel)
		fmt.Fprintf(&sql, ` AND (created_at, posting_id, channel) < ($%d, $%d, $%d)`, len(args)-2, len(args)-1, len(args))
	}
	args = append(args, lq.Limit+1) // one more tells whether a next page exists
	fmt.Fprintf(&sql, ` ORDER BY created_at DESC, posting_id DESC, channel DESC LIMIT $%d`, len(args))

	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return app.Page{}, fmt.Errorf("list user deliveries: %w", err)
	}
	rows, err := q.Query(ctx, sql.String(), args...)
	if err != nil {
		return app.Page{}, fmt.Errorf("list user deliveries: %w", err)
	}
	items, err := collect(rows, lq.Limit+1)
	if err != nil {
		return app.Page{}, fmt.Errorf("list user deliveries: %w", err)
	}
	var page app.Page
	if len(items) > lq.Limit {
		items = items[:lq.Limit]
		page.NextCursor = app.EncodeUserCursor(items[len(items)-1])
	}
	page.Items = items
	return page, nil
}

// CancelPosting implements app.Store in one statement: the posting is
// remembered and its pending rows cancelled together.
func (s *Store) CancelPosting(ctx context.Context, postingID string, at time.Time) (int, error) {
	q, err := db.Q(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("cancel deliveries: %w", err)
	}
	tag, err := q.Exec(ctx, `
		WITH remembered AS (
			INSERT INTO delivery_cancelled_postings (posting_id, cancelled_at) VALUES ($1, $2)
			ON CONFLICT DO NOTHING
		)
		UPDATE deliveries SET status = 'cancelled', error = 'posting cancelled', updated_at = $2
		WHERE posting_id = $1 AND status = 'pending'`,
		postingID, at.UTC())
	if err != nil {
		return 0, fmt.Errorf("cancel deliveries: %w", err)
	}
	// Not remembered as cancelled here: the caller's transaction may still
	// roll back. Forgetting the "not cancelled" answer makes the next
	// IsCancelled ask the database.
	s.cancelled.forget(postingID)
	return int(tag.RowsAffected()), nil
}

// attempted is 1 when f counts an attempt, else 0.
func attempted(f app.Final) int32 {
	if f.Attempted {
		return 1
	}
	return 0
}

// split returns the columns of keys as three arrays.
func split(keys []domain.Key) (postings, users, channels []string) {
	postings, users, channels = make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		postings[i], users[i], channels[i] = k.PostingID, k.UserID, k.Channel
	}
	return postings, users, channels
}

func keysOf(rows []domain.Delivery) []domain.Key {
	keys := make([]domain.Key, len(rows))
	for i, r := range rows {
		keys[i] = r.Key
	}
	return keys
}

// prefixed qualifies each of the comma-separated columns with table.
func prefixed(table, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = table + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// collect scans every row, closing rows.
func collect(rows pgx.Rows, sizeHint int) ([]domain.Delivery, error) {
	defer rows.Close()
	out := make([]domain.Delivery, 0, max(sizeHint, 0))
	for rows.Next() {
		d, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func scan(row pgx.Row) (domain.Delivery, error) {
	var (
		d      domain.Delivery
		sentAt *time.Time
	)
	err := row.Scan(&d.PostingID, &d.UserID, &d.Channel, &d.Status, &d.Attempts, &d.Error, &d.MessageID,
		&d.CreatedAt, &d.UpdatedAt, &sentAt, &d.Reported, &d.Provider)
	if err != nil {
		return domain.Delivery{}, err
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if sentAt != nil && d.Status == delivery.StatusSent {
		d.SentAt = sentAt.UTC()
	}
	return d, nil
}
