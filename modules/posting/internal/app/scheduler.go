package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// schedulerBatch is how many due postings one query returns.
const schedulerBatch = 100

// Scheduler starts the audience walk of scheduled postings when their
// send_at comes. Several instances may run at once: each posting is claimed
// by one atomic update.
type Scheduler struct {
	store    domain.Store
	tx       TxRunner
	commands CommandSender
	clock    clock.Clock
	log      *slog.Logger
}

// NewScheduler returns a scheduler; every dependency is required.
func NewScheduler(store domain.Store, tx TxRunner, commands CommandSender, clk clock.Clock, logger *slog.Logger) (*Scheduler, error) {
	if store == nil || tx == nil || commands == nil || clk == nil || logger == nil {
		return nil, errors.New("new scheduler: nil dependency")
	}
	return &Scheduler{store: store, tx: tx, commands: commands, clock: clk, log: logger}, nil
}

// Run calls Tick every interval until ctx ends, logging its failures.
func (s *Scheduler) Run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "scheduler tick failed", "error", err)
			}
		}
	}
}

// Tick releases every scheduled posting whose send_at has come: in one
// transaction, it moves the posting to accepted and asks for its first
// audience page. A posting another instance claimed first is left alone; a
// posting whose release fails stays scheduled, for the next tick, and the
// others are released all the same.
func (s *Scheduler) Tick(ctx context.Context) error {
	for {
		now := s.clock.Now()
		due, err := s.store.ListDue(ctx, now, schedulerBatch)
		if err != nil {
			return fmt.Errorf("list due postings: %w", err)
		}
		var errs []error
		for _, p := range due {
			if err := s.release(ctx, p.ID, now); err != nil {
				errs = append(errs, fmt.Errorf("release posting %s: %w", p.ID, err))
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if len(due) < schedulerBatch {
			return nil
		}
	}
}

func (s *Scheduler) release(ctx context.Context, id uuid.UUID, now time.Time) error {
	released := false
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		p, err := s.store.Update(ctx, id, func(p *domain.Posting) error {
			if !p.Release(now) {
				return errStop
			}
			return nil
		})
		if errors.Is(err, errStop) {
			return nil // claimed by another instance, or cancelled
		}
		if err != nil {
			return fmt.Errorf("claim scheduled posting: %w", err)
		}
		if err := s.commands.Send(ctx, ExpandAudience{PostingID: id.String(), Page: 1, Priority: p.Priority}); err != nil {
			return fmt.Errorf("send expand audience: %w", err)
		}
		released = true
		return nil
	})
	if err != nil {
		return err
	}
	if released {
		s.log.InfoContext(ctx, "scheduled posting released", "posting_id", id)
	}
	return nil
}
