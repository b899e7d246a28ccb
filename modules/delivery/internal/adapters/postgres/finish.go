package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Finish implements app.Store. The marks of concurrent callers (the
// delivery workers, each marking the message it has just sent) are grouped:
// a call that finds no write running writes its own mark at once; the
// marks arriving while that round trip is on the wire queue up, and the
// first of their callers to get the writer's place writes all of them in
// one UPDATE … FROM unnest, and so on (markWriters writes at a time). Each
// caller still returns only once its own mark has committed, so the
// window in which a crash resends a message is unchanged; what changes is
// the cost, one transaction for every group instead of one per mark. The
// transactions commit without waiting for the disk (see
// commitWithoutFlush).
//
// The group's write does not end with the context of the caller that
// happens to write it: it runs for up to markTimeout whatever becomes of
// the callers' contexts, since a message already sent must be marked.
func (s *Store) Finish(ctx context.Context, key domain.Key, f app.Final) (domain.Delivery, bool, error) {
	if !domain.IsFinal(f.Status) {
		return domain.Delivery{}, false, fmt.Errorf("finish delivery: %q is not a final status", f.Status)
	}
	m := &mark{key: key, final: f, done: make(chan markResult, 1)}
	s.marks.add(m)
	r := s.awaitMark(ctx, m)
	if r.err != nil {
		return domain.Delivery{}, false, fmt.Errorf("finish delivery: %w", r.err)
	}
	return r.row, r.changed, nil
}

// awaitMark returns m's result; while it waits, it writes groups of
// waiting marks (its own among them, or not) whenever a writer's place is
// free.
func (s *Store) awaitMark(ctx context.Context, m *mark) markResult {
	for {
		select {
		case r := <-m.done:
			return r
		case s.marks.writers <- struct{}{}:
			group := s.marks.take()
			if len(group) > 0 {
				s.writeMarks(ctx, group)
			}
			<-s.marks.writers
			if len(group) == 0 {
				// Nothing was waiting, so m is in another writer's
				// group: its answer comes with that write.
				return <-m.done
			}
		}
	}
}

// markTimeout bounds one group write of marks.
const markTimeout = 10 * time.Second

// maxMarksPerWrite bounds the marks of one statement.
const maxMarksPerWrite = 256

// markWriters is how many group writes may run at once. One gave the most
// recipients per second in `make bench` (4,555/s at 50,000 in amqp mode,
// against 3,705/s with three writers and 3,280/s with a transaction per
// mark): the fewer the writes, the larger the groups and the less CPU
// PostgreSQL spends per mark, and CPU is what the machine runs out of.
const markWriters = 1

// mark is one Finish call waiting for its row to be written.
type mark struct {
	key   domain.Key
	final app.Final
	done  chan markResult
}

// markResult answers a mark.
type markResult struct {
	row     domain.Delivery
	changed bool
	err     error
}

// markQueue holds the marks waiting for a group write; writers holds a
// token per write running.
type markQueue struct {
	mu      sync.Mutex
	waiting []*mark
	writers chan struct{}
}

func newMarkQueue() markQueue {
	return markQueue{writers: make(chan struct{}, markWriters)}
}

// add queues m.
func (q *markQueue) add(m *mark) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting = append(q.waiting, m)
}

// take removes the next group: up to maxMarksPerWrite marks, each key once
// (a second mark of a key waits for a later group), sorted by key so that
// concurrent writes lock rows in one order.
func (q *markQueue) take() []*mark {
	q.mu.Lock()
	defer q.mu.Unlock()
	group := make([]*mark, 0, min(len(q.waiting), maxMarksPerWrite))
	keys := make(map[domain.Key]struct{}, cap(group))
	rest := q.waiting[:0]
	for _, m := range q.waiting {
		if _, dup := keys[m.key]; dup || len(group) == maxMarksPerWrite {
			rest = append(rest, m)
			continue
		}
		keys[m.key] = struct{}{}
		group = append(group, m)
	}
	clear(q.waiting[len(rest):])
	q.waiting = rest
	slices.SortFunc(group, func(a, b *mark) int {
		return cmp.Or(strings.Compare(a.key.PostingID, b.key.PostingID),
			strings.Compare(a.key.UserID, b.key.UserID), strings.Compare(a.key.Channel, b.key.Channel))
	})
	return group
}

// writeMarks writes group and answers each of its marks.
func (s *Store) writeMarks(ctx context.Context, group []*mark) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	rows, err := s.finishGroup(wctx, group)
	cancel()
	for _, m := range group {
		row, changed := rows[m.key]
		m.done <- markResult{row: row, changed: changed, err: err}
	}
}

// finishGroup moves the pending rows of group to their final states in one
// transaction that commits without waiting for the disk, and returns the
// rows it changed by key. The keys of group are distinct.
//
// Each row is its own UPDATE by primary key, all of them in one round
// trip: a statement whose plan can only be the key lookup, so that its
// cached generic plan serves (commitWithoutFlush allows it) and it is not
// planned again each time. One UPDATE … FROM unnest for the group was as
// cheap to run, but it has to be planned with its parameters each time: a
// generic plan made while the table was small scans the whole table.
func (s *Store) finishGroup(ctx context.Context, group []*mark) (map[domain.Key]domain.Delivery, error) {
	changed := make(map[domain.Key]domain.Delivery, len(group))
	err := s.commitWithoutFlush(ctx, func(b *pgx.Batch) {
		for _, m := range group {
			b.Queue(`
				UPDATE deliveries
				SET status = $4::text, error = $5, message_id = $6, attempts = attempts + $7, updated_at = $8::timestamptz,
				    sent_at = CASE WHEN $4::text = 'sent' THEN $8::timestamptz END, provider = $9
				WHERE posting_id = $1 AND user_id = $2 AND channel = $3 AND status = 'pending'
				RETURNING `+columns,
				m.key.PostingID, m.key.UserID, m.key.Channel, m.final.Status, m.final.Error, m.final.MessageID,
				attempted(m.final), m.final.At.UTC(), m.final.Provider,
			).QueryRow(func(r pgx.Row) error {
				d, err := scan(r)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil // not pending (or absent): nothing changed
				}
				if err == nil {
					changed[d.Key] = d
				}
				return err
			})
		}
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}
