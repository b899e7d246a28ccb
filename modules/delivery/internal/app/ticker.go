package app

import (
	"context"
	"log/slog"
	"time"
)

// tickEvery calls tick every interval until ctx ends; a failed tick is
// logged as failure (with "; trying again") and tried again at the next.
// It is the loop of the module's pollers.
func tickEvery(ctx context.Context, interval time.Duration, logger *slog.Logger, failure string, tick func(context.Context) (int, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := tick(ctx); err != nil && ctx.Err() == nil {
				logger.WarnContext(ctx, failure+"; trying again", "error", err)
			}
		}
	}
}
