package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/notifier/notifier/platform/logging"
)

// DeleteSuppression takes an address off the suppression list (DELETE
// /api/v1/suppressions/{address}): later postings are delivered to it again.
type DeleteSuppression struct {
	// Address is the address as the caller has it; it is normalized as
	// the list's entries are.
	Address string
	// Channel is email or sms; empty infers it from the address.
	Channel string
}

// DeleteSuppressionHandler answers DeleteSuppression.
type DeleteSuppressionHandler struct {
	store  SuppressionStore
	logger *slog.Logger
}

// NewDeleteSuppressionHandler returns the handler; store and logger are
// required.
func NewDeleteSuppressionHandler(store SuppressionStore, logger *slog.Logger) (*DeleteSuppressionHandler, error) {
	if store == nil || logger == nil {
		return nil, errors.New("new delete suppression handler: store and logger are required")
	}
	return &DeleteSuppressionHandler{store: store, logger: logger}, nil
}

// Handle takes the address off the list. It returns ErrSuppressionNotFound
// when the address is not on it, and an *InvalidInputError naming
// "address" or "channel" for bad input.
func (h *DeleteSuppressionHandler) Handle(ctx context.Context, cmd DeleteSuppression) error {
	addr, err := parseAddress(cmd.Channel, cmd.Address)
	if err != nil {
		return err
	}
	if err := h.store.Unsuppress(ctx, addr); err != nil {
		if errors.Is(err, ErrSuppressionNotFound) {
			return err
		}
		return fmt.Errorf("delete suppression: %w", err)
	}
	h.logger.InfoContext(ctx, "address no longer suppressed", "channel", addr.Channel, "address", logging.MaskAddress(addr.Value))
	return nil
}
