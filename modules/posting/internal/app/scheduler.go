package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	commands CommandSender
	clock    clock.Clock
	log      *slog.Logger
}

// NewScheduler returns a scheduler; every dependency is required.
func NewScheduler(store domain.Store, commands CommandSender, clk clock.Clock, logger *slog.Logger) (*Scheduler, error) {
	if store == nil || commands == nil || clk == nil || logger == nil {
		return nil, errors.New("new scheduler: nil dependency")
	}
	return &Scheduler{store: store, commands: commands, clock: clk, log: logger}, nil
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

// Tick releases every scheduled posting whose send_at has come: it moves it
// to accepted and asks for its first audience page. A posting another
// instance claimed first is left alone. When the command cannot be sent
// the posting goes back to scheduled, for the next tick.
func (s *Scheduler) Tick(ctx context.Context) error {
	for {
		now := s.clock.Now()
		due, err := s.store.ListDue(ctx, now, schedulerBatch)
		if err != nil {
			return fmt.Errorf("list due postings: %w", err)
		}
		for _, p := range due {
			if err := s.release(ctx, p, now); err != nil {
				return err
			}
		}
		if len(due) < schedulerBatch {
			return nil
		}
	}
}

func (s *Scheduler) release(ctx context.Context, p domain.Posting, now time.Time) error {
	_, err := s.store.Update(ctx, p.ID, func(p *domain.Posting) error {
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
	if _, err := startWalk(ctx, s.store, s.commands, p.ID); err != nil {
		_, rerr := s.store.Update(context.WithoutCancel(ctx), p.ID, func(p *domain.Posting) error {
			if !p.Reschedule(s.clock.Now()) {
				return errStop
			}
			return nil
		})
		if rerr != nil && !errors.Is(rerr, errStop) {
			return errors.Join(err, fmt.Errorf("put posting back to scheduled: %w", rerr))
		}
		return err
	}
	s.log.InfoContext(ctx, "scheduled posting released", "posting_id", p.ID)
	return nil
}
