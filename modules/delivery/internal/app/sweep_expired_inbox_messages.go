package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/notifier/notifier/platform/clock"
)

// SweepExpiredInboxMessages deletes the in-app messages past their
// posting's expiry. They are hidden from the moment they expire; the sweep
// only frees their rows.
type SweepExpiredInboxMessages struct {
	store  InboxStore
	clock  clock.Clock
	logger *slog.Logger
}

// NewSweepExpiredInboxMessages returns the sweep; every argument is
// required.
func NewSweepExpiredInboxMessages(store InboxStore, clk clock.Clock, logger *slog.Logger) (*SweepExpiredInboxMessages, error) {
	if store == nil || clk == nil || logger == nil {
		return nil, errors.New("new SweepExpiredInboxMessages: store, clock and logger are required")
	}
	return &SweepExpiredInboxMessages{store: store, clock: clk, logger: logger}, nil
}

// Tick deletes what has expired now and returns how many messages.
func (s *SweepExpiredInboxMessages) Tick(ctx context.Context) (int, error) {
	n, err := s.store.DeleteExpired(ctx, s.clock.Now())
	if err == nil && n > 0 {
		s.logger.InfoContext(ctx, "expired inbox messages swept", "messages", n)
	}
	return n, err
}

// Run calls Tick every interval until ctx ends; a failed tick is logged
// and tried again at the next.
func (s *SweepExpiredInboxMessages) Run(ctx context.Context, interval time.Duration) {
	tickEvery(ctx, interval, s.logger, "sweep of expired inbox messages failed", s.Tick)
}
