package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// Deferred keeps deferred batches in memory (memory mode, tests). It is
// safe for concurrent use.
type Deferred struct {
	mu      sync.Mutex
	batches map[deferredKey]app.DeferredBatch
}

type deferredKey struct {
	batch     app.BatchKey
	notBefore int64
}

var _ app.DeferredStore = (*Deferred)(nil)

// NewDeferred returns an empty store.
func NewDeferred() *Deferred { return &Deferred{batches: map[deferredKey]app.DeferredBatch{}} }

// Defer implements app.DeferredStore.
func (d *Deferred) Defer(ctx context.Context, batches []app.DeferredBatch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range batches {
		k := deferredKey{b.Batch, b.NotBefore.UnixNano()}
		if _, ok := d.batches[k]; !ok {
			d.batches[k] = b
		}
	}
	return nil
}

// Due implements app.DeferredStore: the batches taken are out of the store
// while resume runs, and back in it when resume fails.
func (d *Deferred) Due(ctx context.Context, now time.Time, limit int, resume func(context.Context, []app.DeferredBatch) error) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d.mu.Lock()
	var keys []deferredKey
	for k, b := range d.batches {
		if !b.NotBefore.After(now) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b deferredKey) int { return int(a.notBefore - b.notBefore) })
	if len(keys) > limit {
		keys = keys[:limit]
	}
	due := make([]app.DeferredBatch, len(keys))
	for i, k := range keys {
		due[i] = d.batches[k]
		delete(d.batches, k)
	}
	d.mu.Unlock()
	if len(due) == 0 {
		return 0, nil
	}
	if err := resume(ctx, due); err != nil {
		d.mu.Lock()
		for i, k := range keys {
			if _, again := d.batches[k]; !again {
				d.batches[k] = due[i]
			}
		}
		d.mu.Unlock()
		return 0, err
	}
	return len(due), nil
}

// Len returns how many batches wait.
func (d *Deferred) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.batches)
}
