package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/platform/clock"
)

// EnableEndpointHandler enables disabled endpoints again.
type EnableEndpointHandler struct {
	store  Store
	maxAge time.Duration
	clock  clock.Clock
	log    *slog.Logger
}

// NewEnableEndpointHandler returns the handler; every dependency is
// required and maxAge (webhooks.max_age) positive.
func NewEnableEndpointHandler(store Store, maxAge time.Duration, clk clock.Clock, logger *slog.Logger) (*EnableEndpointHandler, error) {
	if store == nil || clk == nil || logger == nil {
		return nil, errors.New("new enable endpoint handler: nil dependency")
	}
	if maxAge <= 0 {
		return nil, fmt.Errorf("new enable endpoint handler: max age %s is not positive", maxAge)
	}
	return &EnableEndpointHandler{store: store, maxAge: maxAge, clock: clk, log: logger}, nil
}

// Handle enables the endpoint with id: it receives events again, and the
// messages that waited for it are tried again at once, each with a fresh
// max age. Enabling an enabled endpoint does that too. It returns
// domain.ErrNotFound for an unknown id.
func (h *EnableEndpointHandler) Handle(ctx context.Context, id string) (EndpointView, error) {
	uid, err := parseID(id)
	if err != nil {
		return EndpointView{}, err
	}
	now := h.clock.Now()
	e, err := h.store.EnableEndpoint(ctx, uid, now, now.Add(h.maxAge))
	if err != nil {
		return EndpointView{}, fmt.Errorf("enable endpoint: %w", err)
	}
	pending, err := h.store.PendingMessages(ctx, []uuid.UUID{e.ID})
	if err != nil {
		return EndpointView{}, fmt.Errorf("count pending messages: %w", err)
	}
	h.log.InfoContext(ctx, "webhook endpoint enabled", "endpoint_id", e.ID, "pending", pending[e.ID])
	return EndpointView{Endpoint: e, Pending: pending[e.ID]}, nil
}
