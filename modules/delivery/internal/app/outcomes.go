package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// outcomeLog finishes rows through the store and keeps the outcome of each
// row it changed, so that every row is reported once. It is safe for
// concurrent use, ready for a pool of workers.
type outcomeLog struct {
	store Store

	mu       sync.Mutex
	outcomes []delivery.Outcome
	counts   map[string]int
}

func newOutcomeLog(store Store) *outcomeLog {
	return &outcomeLog{store: store, counts: map[string]int{}}
}

// finish moves a pending row to its final state and reports whether this
// call did it.
func (l *outcomeLog) finish(ctx context.Context, key domain.Key, f Final) (bool, error) {
	row, changed, err := l.store.Finish(ctx, key, f)
	if err != nil {
		return false, fmt.Errorf("finish delivery as %s: %w", f.Status, err)
	}
	if changed {
		l.add(row)
	}
	return changed, nil
}

func (l *outcomeLog) add(rows ...domain.Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rows {
		l.outcomes = append(l.outcomes, r.Outcome())
		l.counts[r.Status]++
	}
}

// drain returns the outcomes collected so far and the count per status.
func (l *outcomeLog) drain() ([]delivery.Outcome, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.outcomes, l.counts
}

// publishOutcomes publishes the outcomes of a posting in events of at most
// chunk outcomes each; nothing when there are none.
func publishOutcomes(ctx context.Context, events EventPublisher, postingID string, outcomes []delivery.Outcome, chunk int) error {
	for len(outcomes) > 0 {
		n := min(chunk, len(outcomes))
		if chunk <= 0 {
			n = len(outcomes)
		}
		ev := &delivery.DeliveryOutcomes{PostingID: postingID, Outcomes: outcomes[:n]}
		if err := events.Publish(ctx, ev); err != nil {
			return fmt.Errorf("publish delivery outcomes: %w", err)
		}
		outcomes = outcomes[n:]
	}
	return nil
}
