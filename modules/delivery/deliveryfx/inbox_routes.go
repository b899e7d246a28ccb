package deliveryfx

import (
	"log/slog"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/ports"
	"github.com/notifier/notifier/platform/clock"
)

func newInboxRoutes(inbox app.InboxStore, hub *app.InboxHub, clk clock.Clock, logger *slog.Logger) (*ports.InboxHTTP, error) {
	list, err := app.NewListInboxHandler(inbox, clk)
	if err != nil {
		return nil, err
	}
	read, err := app.NewMarkInboxMessageReadHandler(inbox, clk)
	if err != nil {
		return nil, err
	}
	follow, err := app.NewFollowInboxHandler(inbox, hub, clk, 0)
	if err != nil {
		return nil, err
	}
	return ports.NewInboxHTTP(list, read, follow, 0, logger.With("module", "delivery"))
}
