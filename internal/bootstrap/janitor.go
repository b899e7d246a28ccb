package bootstrap

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/messaging/pgtransport"
)

// janitorInterval is how often expired deduplication keys, and in the sql
// transport the messages every handler has consumed, are deleted.
const janitorInterval = 10 * time.Minute

// startJanitor deletes expired deduplication keys and, with the sql
// transport, consumed messages, in the background.
func startJanitor(lc fx.Lifecycle, in *infra, logger *slog.Logger) {
	keys, _ := in.keys.(*messaging.PostgresKeyStore)
	topics, _ := in.transport.(*pgtransport.SQL)
	if keys == nil && topics == nil {
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
						sweep(ctx, keys, topics, logger)
					}
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error { cancel(); <-done; return nil },
	})
}

// sweep runs one round of the janitor.
func sweep(ctx context.Context, keys *messaging.PostgresKeyStore, topics *pgtransport.SQL, logger *slog.Logger) {
	if keys != nil {
		if n, err := keys.Sweep(ctx); err != nil {
			logger.Warn("sweeping deduplication keys failed", "error", err)
		} else if n > 0 {
			logger.Info("expired deduplication keys deleted", "count", n)
		}
	}
	if topics != nil {
		if n, err := topics.Prune(ctx); err != nil {
			logger.Warn("pruning consumed messages failed", "error", err)
		} else if n > 0 {
			logger.Info("consumed messages deleted", "count", n)
		}
	}
}
