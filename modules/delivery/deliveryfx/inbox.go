package deliveryfx

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/clock"
)

// inboxSweepInterval is how often the in-app messages past their expiry
// are deleted (they are hidden from the moment they expire).
const inboxSweepInterval = time.Minute

// newInbox returns the in-app inbox (table inbox_messages) on the
// PostgreSQL pool when there is one, else in memory.
func newInbox(p storeParams) (app.InboxStore, error) {
	if p.Pool == nil {
		return memory.NewInbox(), nil
	}
	return postgres.NewInbox(p.Pool)
}

type sweepParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Logger    *slog.Logger
	Clock     clock.Clock
	Inbox     app.InboxStore
}

// sweepInbox deletes the expired in-app messages every inboxSweepInterval
// while the application runs.
func sweepInbox(p sweepParams) error {
	s, err := app.NewSweepExpiredInboxMessages(p.Inbox, p.Clock, p.Logger.With("module", "delivery"))
	if err != nil {
		return err
	}
	return runEvery(p.Lifecycle, func(ctx context.Context) { s.Run(ctx, inboxSweepInterval) })
}
