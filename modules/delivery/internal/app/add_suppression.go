package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/logging"
)

// AddSuppression puts an address on the suppression list for someone
// outside (POST /api/v1/suppressions): a provider's bounce or complaint
// feed, an operator.
type AddSuppression struct {
	// Address is an email address or a phone number, as the caller has it.
	Address string
	// Channel is email or sms; empty infers it from the address (an '@'
	// makes it email).
	Channel string
	// Reason says why ("bounce", "complaint", free text), at most
	// domain.MaxReasonLength characters.
	Reason string
}

// AddSuppressionHandler answers AddSuppression.
type AddSuppressionHandler struct {
	store   SuppressionStore
	clock   clock.Clock
	logger  *slog.Logger
	metrics SuppressionMetrics
}

// NewAddSuppressionHandler returns the handler; store, clock and logger are
// required; metrics may be nil (nothing counted).
func NewAddSuppressionHandler(store SuppressionStore, clk clock.Clock, logger *slog.Logger, metrics SuppressionMetrics) (*AddSuppressionHandler, error) {
	if store == nil || clk == nil || logger == nil {
		return nil, errors.New("new add suppression handler: store, clock and logger are required")
	}
	if metrics == nil {
		metrics = noMetrics{}
	}
	return &AddSuppressionHandler{store: store, clock: clk, logger: logger, metrics: metrics}, nil
}

// Handle puts the address on the list and returns its entry, and whether it
// is new. An address already on the list keeps its entry (first reason,
// first time, first source): posting it again changes nothing, so a feed
// may send the same bounce twice. It returns an *InvalidInputError naming
// "address", "channel" or "reason" for bad input.
func (h *AddSuppressionHandler) Handle(ctx context.Context, cmd AddSuppression) (domain.Suppression, bool, error) {
	addr, err := parseAddress(cmd.Channel, cmd.Address)
	if err != nil {
		return domain.Suppression{}, false, err
	}
	reason := strings.TrimSpace(cmd.Reason)
	switch {
	case reason == "":
		return domain.Suppression{}, false, invalid("reason", "is required")
	case !utf8.ValidString(reason) || strings.ContainsFunc(reason, unicode.IsControl):
		return domain.Suppression{}, false, invalid("reason", "holds control characters or invalid UTF-8")
	case utf8.RuneCountInString(reason) > domain.MaxReasonLength:
		return domain.Suppression{}, false, invalid("reason", "longer than %d characters", domain.MaxReasonLength)
	}
	entry, added, err := h.store.Suppress(ctx, domain.Suppression{
		Address: addr, Reason: reason, Source: domain.SourceAPI, CreatedAt: h.clock.Now().UTC(),
	})
	if err != nil {
		return domain.Suppression{}, false, fmt.Errorf("add suppression: %w", err)
	}
	if added {
		h.metrics.SuppressionAdded(domain.SourceAPI, addr.Channel)
		h.logger.InfoContext(ctx, "address suppressed", "channel", addr.Channel,
			"address", logging.MaskAddress(addr.Value), "source", domain.SourceAPI)
	}
	return entry, added, nil
}

// parseAddress is domain.ParseAddress with its errors as *InvalidInputError.
func parseAddress(channel, raw string) (domain.Address, error) {
	addr, err := domain.ParseAddress(channel, raw)
	var ae *domain.AddressError
	if errors.As(err, &ae) {
		return domain.Address{}, invalid(ae.Field, "%s", ae.Message)
	}
	return addr, err
}
