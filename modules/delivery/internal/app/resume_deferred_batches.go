package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/notifier/notifier/platform/clock"
)

// CommandSender sends a command to its handler (a *cqrs.CommandBus).
type CommandSender interface {
	Send(ctx context.Context, cmd any) error
}

// ResumeDeferredBatches sends again the batches that waited for the end of
// quiet hours, once it has passed: each goes back to the DeliverBatch
// handler of its lane, which finds its rows still pending and sends them
// (a row that became final meanwhile, cancelled say, is left alone). Run
// it in every instance: each takes different batches.
type ResumeDeferredBatches struct {
	store    DeferredStore
	commands CommandSender
	clock    clock.Clock
	logger   *slog.Logger
	// Limit is how many batches one transaction takes.
	limit int
}

// NewResumeDeferredBatches returns the use case; every dependency is
// required.
func NewResumeDeferredBatches(store DeferredStore, commands CommandSender, clk clock.Clock, logger *slog.Logger) (*ResumeDeferredBatches, error) {
	if store == nil || commands == nil || clk == nil || logger == nil {
		return nil, errors.New("new ResumeDeferredBatches: store, command sender, clock and logger are required")
	}
	return &ResumeDeferredBatches{store: store, commands: commands, clock: clk, logger: logger, limit: 100}, nil
}

// Tick sends every batch due now, a transaction of up to 100 at a time,
// and returns how many it sent.
func (r *ResumeDeferredBatches) Tick(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.store.Due(ctx, r.clock.Now(), r.limit, func(ctx context.Context, due []DeferredBatch) error {
			for _, d := range due {
				cmd := d.Command
				if err := r.commands.Send(ctx, &cmd); err != nil {
					return fmt.Errorf("send deferred batch %s#%d: %w", d.Batch.PostingID, d.Batch.BatchNo, err)
				}
			}
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("resume deferred batches: %w", err)
		}
		if n < r.limit {
			if total > 0 {
				r.logger.InfoContext(ctx, "quiet hours over: deferred batches sent again", "batches", total)
			}
			return total, nil
		}
	}
}

// Run calls Tick every interval until ctx ends; a failed tick is logged and
// tried again at the next.
func (r *ResumeDeferredBatches) Run(ctx context.Context, interval time.Duration) {
	tickEvery(ctx, interval, r.logger, "resume deferred batches failed", r.Tick)
}
