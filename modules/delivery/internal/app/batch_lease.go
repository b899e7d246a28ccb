package app

import (
	"context"
	"fmt"
	"time"
)

// The lease of a batch being delivered (Store.LeaseBatch): taken for
// batchLeaseTTL, renewed every batchLeaseRenew while the batch runs, and
// asked for again every batchLeasePoll while another instance holds it. A
// batch whose instance died is taken over once its lease has expired, so
// its redelivery waits up to batchLeaseTTL.
const (
	batchLeaseTTL   = 15 * time.Second
	batchLeaseRenew = 5 * time.Second
	batchLeasePoll  = 200 * time.Millisecond
)

// holdBatch waits until this handler may deliver the batch: its turn among
// the copies of the batch in this process (batchLocks), then the batch's
// lease among the instances (a copy another instance is delivering is
// waited for, and then finds its rows final). It returns a context that
// ends if the lease is lost (not renewed in time and taken over), and the
// function that gives the lease and the turn back.
func (h *DeliverBatchHandler) holdBatch(ctx context.Context, batch BatchKey) (context.Context, func(), error) {
	unlock, err := h.batches.lock(ctx, batch.PostingID, batch.Lane, batch.BatchNo)
	if err != nil {
		return nil, nil, fmt.Errorf("wait for another copy of the batch: %w", err)
	}
	for {
		ok, err := h.store.LeaseBatch(ctx, batch, h.holder, h.leaseTTL)
		if err != nil {
			unlock()
			return nil, nil, err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			unlock()
			return nil, nil, fmt.Errorf("wait for another instance delivering the batch: %w", ctx.Err())
		case <-time.After(h.leasePoll):
		}
	}

	held, lost := context.WithCancel(context.WithoutCancel(ctx))
	stopRenewing := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(h.leaseRenew)
		defer tick.Stop()
		for {
			select {
			case <-stopRenewing:
				return
			case <-tick.C:
				ok, err := h.store.LeaseBatch(held, batch, h.holder, h.leaseTTL)
				if err == nil && ok {
					continue
				}
				h.logger.Warn("delivery batch lease lost; the batch stops and is delivered again later",
					"posting_id", batch.PostingID, "lane", batch.Lane, "batch_no", batch.BatchNo, "error", err)
				lost()
				return
			}
		}
	}()
	release := func() {
		close(stopRenewing)
		<-renewed
		relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
		defer cancel()
		if err := h.store.ReleaseBatch(relCtx, batch, h.holder); err != nil {
			h.logger.Warn("release delivery batch lease", "posting_id", batch.PostingID, "batch_no", batch.BatchNo, "error", err)
		}
		lost()
		unlock()
	}
	return held, release, nil
}
