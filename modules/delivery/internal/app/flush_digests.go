package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/platform/clock"
)

// FlushDigests closes the digests that are due and sends each one's batch
// (a DeliverBatch whose Digest names it) to the DeliverBatch handler of
// its lane, in the same transaction as the closing where the store has
// one, so that a closed digest is always sent. It also forgets the digests
// closed longer ago than the retention. Run it in every instance: each
// closes different digests.
type FlushDigests struct {
	store     DigestStore
	commands  CommandSender
	clock     clock.Clock
	logger    *slog.Logger
	retention time.Duration
	limit     int
}

// NewFlushDigests returns the use case; every dependency is required and
// retention (how long a closed digest is kept, so that a late copy of a
// batch finds its parts held) must be positive.
func NewFlushDigests(store DigestStore, commands CommandSender, clk clock.Clock, logger *slog.Logger, retention time.Duration) (*FlushDigests, error) {
	if store == nil || commands == nil || clk == nil || logger == nil {
		return nil, errors.New("new FlushDigests: store, command sender, clock and logger are required")
	}
	if retention <= 0 {
		return nil, errors.New("new FlushDigests: retention must be positive")
	}
	return &FlushDigests{store: store, commands: commands, clock: clk, logger: logger, retention: retention, limit: 100}, nil
}

// Tick sends every digest due now, a transaction of up to 100 at a time,
// forgets the old closed ones and returns how many it sent.
func (f *FlushDigests) Tick(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := f.store.Due(ctx, f.clock.Now(), f.limit, func(ctx context.Context, due []Digest) error {
			for _, d := range due {
				cmd := &delivery.DeliverBatch{
					PostingID:        delivery.DigestPostingID(d.ID),
					Lane:             d.Lane,
					NotificationType: d.Key.Type,
					Digest:           &delivery.DigestRef{ID: d.ID},
				}
				if err := f.commands.Send(ctx, cmd); err != nil {
					return fmt.Errorf("send digest %s: %w", d.ID, err)
				}
			}
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("flush digests: %w", err)
		}
		if n < f.limit {
			break
		}
	}
	if total > 0 {
		f.logger.InfoContext(ctx, "digests due: sent", "digests", total)
	}
	if _, err := f.store.Purge(ctx, f.clock.Now().Add(-f.retention)); err != nil {
		return total, fmt.Errorf("purge closed digests: %w", err)
	}
	return total, nil
}

// Run calls Tick every interval until ctx ends; a failed tick is logged and
// tried again at the next.
func (f *FlushDigests) Run(ctx context.Context, interval time.Duration) {
	tickEvery(ctx, interval, f.logger, "flush digests failed", f.Tick)
}
