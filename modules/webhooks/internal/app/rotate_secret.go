package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// RotateSecretHandler gives endpoints new signing secrets.
type RotateSecretHandler struct {
	store Store
	grace time.Duration
	clock clock.Clock
	log   *slog.Logger
}

// NewRotateSecretHandler returns the handler; every dependency is
// required. grace (webhooks.rotation_grace, at least 0) is how long the
// replaced secret keeps signing beside the new one.
func NewRotateSecretHandler(store Store, grace time.Duration, clk clock.Clock, logger *slog.Logger) (*RotateSecretHandler, error) {
	if store == nil || clk == nil || logger == nil {
		return nil, errors.New("new rotate secret handler: nil dependency")
	}
	if grace < 0 {
		return nil, fmt.Errorf("new rotate secret handler: negative grace %s", grace)
	}
	return &RotateSecretHandler{store: store, grace: grace, clock: clk, log: logger}, nil
}

// Handle makes a new secret for the endpoint with id and returns the
// endpoint with it. Calls are signed with both secrets (two signatures in
// webhook-signature) for the grace period, so that the receiver can
// switch to the new one in its own time; after it, with the new one only.
// A secret replaced by an earlier rotation stops signing at once. It
// returns domain.ErrNotFound for an unknown id.
func (h *RotateSecretHandler) Handle(ctx context.Context, id string) (domain.Endpoint, error) {
	uid, err := parseID(id)
	if err != nil {
		return domain.Endpoint{}, err
	}
	secret, err := domain.NewSecret()
	if err != nil {
		return domain.Endpoint{}, fmt.Errorf("new secret: %w", err)
	}
	now := h.clock.Now()
	e, err := h.store.UpdateEndpoint(ctx, uid, func(e *domain.Endpoint) error {
		e.Rotate(secret, h.grace, now)
		return nil
	})
	if err != nil {
		return domain.Endpoint{}, fmt.Errorf("rotate secret: %w", err)
	}
	h.log.InfoContext(ctx, "webhook secret rotated", "endpoint_id", e.ID, "grace", h.grace)
	return e, nil
}
