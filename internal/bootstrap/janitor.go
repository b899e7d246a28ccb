package bootstrap

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/notifier/notifier/platform/messaging"
)

// janitorInterval is how often expired deduplication keys are deleted.
const janitorInterval = 10 * time.Minute

// startJanitor deletes expired deduplication keys in the background.
func startJanitor(lc fx.Lifecycle, in *infra, logger *slog.Logger) {
	keys, ok := in.keys.(*messaging.PostgresKeyStore)
	if !ok {
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
						if n, err := keys.Sweep(ctx); err != nil {
							logger.Warn("sweeping deduplication keys failed", "error", err)
						} else if n > 0 {
							logger.Info("expired deduplication keys deleted", "count", n)
						}
					}
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error { cancel(); <-done; return nil },
	})
}
