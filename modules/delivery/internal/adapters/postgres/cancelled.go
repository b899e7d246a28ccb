package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// recheckCancellation is how long IsCancelled trusts a "not cancelled"
// answer before asking the database again. A delivery worker asks before
// each message; without this, that was one round trip per recipient. So a
// posting cancelled through another instance (or in a transaction that had
// not committed at the last check) is seen by this instance's workers up to
// this late; its rows still pending are cancelled by CancelPosting itself,
// so what a worker sends meanwhile is only what it had already started.
const recheckCancellation = 100 * time.Millisecond

// maxRemembered bounds each of the cache's maps; past it, the map is
// emptied (a cache miss only costs a query).
const maxRemembered = 10_000

// cancellations remembers IsCancelled's answers: "cancelled" for good (a
// posting is never uncancelled), "not cancelled" for recheckCancellation.
type cancellations struct {
	mu        sync.Mutex
	cancelled map[string]struct{}
	notSince  map[string]time.Time // when "not cancelled" was read
}

// lookup returns the remembered answer, ok false when there is none.
func (c *cancellations) lookup(postingID string, now time.Time) (cancelled, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, yes := c.cancelled[postingID]; yes {
		return true, true
	}
	if at, seen := c.notSince[postingID]; seen && now.Sub(at) < recheckCancellation && !now.Before(at) {
		return false, true
	}
	return false, false
}

// remember keeps an answer read at at.
func (c *cancellations) remember(postingID string, cancelled bool, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cancelled {
		if c.cancelled == nil || len(c.cancelled) >= maxRemembered {
			c.cancelled = make(map[string]struct{})
		}
		c.cancelled[postingID] = struct{}{}
		delete(c.notSince, postingID)
		return
	}
	if c.notSince == nil || len(c.notSince) >= maxRemembered {
		c.notSince = make(map[string]time.Time)
	}
	c.notSince[postingID] = at
}

// forget drops a "not cancelled" answer.
func (c *cancellations) forget(postingID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.notSince, postingID)
}

// IsCancelled implements app.Store. It reads from the pool, so that a batch
// does not open its unit of work's transaction before it reports, and
// remembers the answer (see recheckCancellation).
func (s *Store) IsCancelled(ctx context.Context, postingID string) (bool, error) {
	asked := time.Now()
	if cancelled, ok := s.cancelled.lookup(postingID, asked); ok {
		return cancelled, nil
	}
	var cancelled bool
	err := s.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM delivery_cancelled_postings WHERE posting_id = $1)`, postingID).Scan(&cancelled)
	if err != nil {
		return false, fmt.Errorf("check cancellation: %w", err)
	}
	// Remembered as of when the question was asked: an answer is never
	// trusted past recheckCancellation after the read began.
	s.cancelled.remember(postingID, cancelled, asked)
	return cancelled, nil
}
