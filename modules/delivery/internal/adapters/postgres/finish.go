package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// Finish implements app.Store. The marks of concurrent callers (the
// delivery workers, each marking the message it has just sent) are grouped:
// a call that finds no group being written writes its own mark at once and,
// while that round trip is on the wire, the marks of the callers arriving
// meanwhile queue up; the first of them then writes all of them in one
// UPDATE … FROM unnest, and so on. Each caller still returns only once its
// own mark has committed, so nothing changes for it but the cost: one
// transaction for every few marks instead of one each (with 10 workers,
// about 5 to 10 marks per transaction). The transactions commit without
// waiting for the disk (see commitWithoutFlush).
//
// The group's write does not end with the context of the caller that
// happens to write it: it runs for up to markTimeout whatever becomes of
// the callers' contexts, since a message already sent must be marked.
func (s *Store) Finish(ctx context.Context, key domain.Key, f app.Final) (domain.Delivery, bool, error) {
	if !domain.IsFinal(f.Status) {
		return domain.Delivery{}, false, fmt.Errorf("finish delivery: %q is not a final status", f.Status)
	}
	m := &mark{key: key, final: f, done: make(chan markResult, 1)}
	if s.marks.enqueue(m) {
		s.writeMarks(ctx)
	}
	r := <-m.done
	for r.lead {
		s.writeMarks(ctx)
		r = <-m.done
	}
	if r.err != nil {
		return domain.Delivery{}, false, fmt.Errorf("finish delivery: %w", r.err)
	}
	return r.row, r.changed, nil
}

// markTimeout bounds one group write of marks.
const markTimeout = 10 * time.Second

// maxMarksPerWrite bounds the marks of one statement.
const maxMarksPerWrite = 256

// mark is one Finish call waiting for its row to be written.
type mark struct {
	key   domain.Key
	final app.Final
	done  chan markResult
}

// markResult answers a mark: its row, or the turn to write the next group
// (lead).
type markResult struct {
	row     domain.Delivery
	changed bool
	err     error
	lead    bool
}

// markQueue holds the marks waiting for a group write; at most one writer
// runs at a time.
type markQueue struct {
	mu      sync.Mutex
	waiting []*mark
	writing bool
}

// enqueue adds m and reports whether its caller must write now (no write
// was running).
func (q *markQueue) enqueue(m *mark) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting = append(q.waiting, m)
	if q.writing {
		return false
	}
	q.writing = true
	return true
}

// take removes the next group: up to maxMarksPerWrite marks, each key once
// (a second mark of a key waits for the next group, so that it sees the
// first one's outcome).
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
	return group
}

// handOver ends the running write: the first mark still waiting, if any,
// is told to write the next group.
func (q *markQueue) handOver() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 {
		q.writing = false
		return
	}
	q.waiting[0].done <- markResult{lead: true}
}

// writeMarks writes one group of waiting marks, answers each, and hands
// the writing over to the next waiting mark.
func (s *Store) writeMarks(ctx context.Context) {
	group := s.marks.take()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	rows, err := s.finishGroup(wctx, group)
	cancel()
	// Answer the group before handing over, so that a mark whose key
	// waited for this group sees its outcome.
	for _, m := range group {
		row, changed := rows[m.key]
		m.done <- markResult{row: row, changed: changed, err: err}
	}
	s.marks.handOver()
}

// finishGroup moves the pending rows of group to their final states in one
// transaction that commits without waiting for the disk, and returns the
// rows it changed by key. The keys of group are distinct.
func (s *Store) finishGroup(ctx context.Context, group []*mark) (map[domain.Key]domain.Delivery, error) {
	n := len(group)
	var (
		postings, users, channels = make([]string, n), make([]string, n), make([]string, n)
		statuses, errTexts, ids   = make([]string, n), make([]string, n), make([]string, n)
		attempts                  = make([]int32, n)
		ats                       = make([]time.Time, n)
	)
	for i, m := range group {
		postings[i], users[i], channels[i] = m.key.PostingID, m.key.UserID, m.key.Channel
		statuses[i], errTexts[i], ids[i] = m.final.Status, m.final.Error, m.final.MessageID
		attempts[i], ats[i] = attempted(m.final), m.final.At.UTC()
	}
	changed := make(map[domain.Key]domain.Delivery, n)
	err := s.commitWithoutFlush(ctx, func(b *pgx.Batch) {
		b.Queue(`
			UPDATE deliveries d
			SET status = u.status, error = u.error, message_id = u.message_id,
			    attempts = d.attempts + u.attempted, updated_at = u.at,
			    sent_at = CASE WHEN u.status = 'sent' THEN u.at END
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::timestamptz[])
			     AS u (posting_id, user_id, channel, status, error, message_id, attempted, at)
			WHERE (d.posting_id, d.user_id, d.channel) = (u.posting_id, u.user_id, u.channel)
			  AND d.status = 'pending'
			RETURNING `+prefixed("d", columns),
			postings, users, channels, statuses, errTexts, ids, attempts, ats,
		).Query(func(rows pgx.Rows) error {
			got, err := collect(rows, n)
			if err != nil {
				return err
			}
			for _, d := range got {
				changed[d.Key] = d
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}
