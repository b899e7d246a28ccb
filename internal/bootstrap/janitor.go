package bootstrap

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/pgtransport"
)

// janitorInterval is how often the sweepers run.
const janitorInterval = 10 * time.Minute

// platformSweepers returns the platform's own clean-ups: expired
// deduplication keys and, with the sql transport, the messages every
// handler has consumed and the poisoned messages older than
// amqp.poison_ttl.
func platformSweepers(in *infra) []db.Sweeper {
	var out []db.Sweeper
	if keys, ok := in.keys.(*messaging.PostgresKeyStore); ok {
		out = append(out, db.Sweeper{What: "expired deduplication keys", Sweep: keys.Sweep})
	}
	if topics, ok := in.transport.(*pgtransport.SQL); ok {
		out = append(out, db.Sweeper{What: "consumed messages", Sweep: topics.Prune},
			db.Sweeper{What: "poisoned messages older than amqp.poison_ttl", Sweep: topics.ExpirePoisoned})
	}
	return out
}

// janitorSweepers returns every clean-up the janitor runs: the
// platform's, the console's poison queue's and the modules'.
func janitorSweepers(in *infra, pq *poisonQueue, modules []db.Sweeper) []db.Sweeper {
	out := platformSweepers(in)
	if pq != nil && pq.sweeper != nil {
		out = append(out, *pq.sweeper)
	}
	return append(out, modules...)
}

// startJanitor runs every sweeper every janitorInterval in the background.
func startJanitor(lc fx.Lifecycle, sweepers []db.Sweeper, logger *slog.Logger) {
	if len(sweepers) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				ticker := time.NewTicker(janitorInterval)
				defer ticker.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-ticker.C:
						sweep(ctx, sweepers, logger)
					}
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error { cancel(); <-done; return nil },
	})
}

// sweep runs one round of the janitor.
func sweep(ctx context.Context, sweepers []db.Sweeper, logger *slog.Logger) {
	for _, s := range sweepers {
		if n, err := s.Sweep(ctx); err != nil {
			logger.Warn("sweeping failed", "what", s.What, "error", err)
		} else if n > 0 {
			logger.Info("swept", "what", s.What, "count", n)
		}
	}
}
