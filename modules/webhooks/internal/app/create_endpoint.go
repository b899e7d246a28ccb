package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// CreateEndpoint asks for a new endpoint.
type CreateEndpoint struct {
	URL         string
	Events      []string
	Description string
}

// CreateEndpointHandler registers endpoints.
type CreateEndpointHandler struct {
	store  Store
	policy HostPolicy
	clock  clock.Clock
	log    *slog.Logger
}

// NewCreateEndpointHandler returns the handler; every dependency is
// required.
func NewCreateEndpointHandler(store Store, policy HostPolicy, clk clock.Clock, logger *slog.Logger) (*CreateEndpointHandler, error) {
	if store == nil || policy == nil || clk == nil || logger == nil {
		return nil, errors.New("new create endpoint handler: nil dependency")
	}
	return &CreateEndpointHandler{store: store, policy: policy, clock: clk, log: logger}, nil
}

// Handle validates cmd and stores a new, enabled endpoint with a new
// signing secret, which it returns with the endpoint (the only time but
// a rotation that it is shown). It receives the events that happen from
// then on. It returns an *InvalidInputError naming "url", "events" or
// "description" for bad input.
func (h *CreateEndpointHandler) Handle(ctx context.Context, cmd CreateEndpoint) (domain.Endpoint, error) {
	u, err := checkURL(cmd.URL, h.policy)
	if err != nil {
		return domain.Endpoint{}, err
	}
	events, err := checkEvents(cmd.Events)
	if err != nil {
		return domain.Endpoint{}, err
	}
	desc, err := checkDescription(cmd.Description)
	if err != nil {
		return domain.Endpoint{}, err
	}
	secret, err := domain.NewSecret()
	if err != nil {
		return domain.Endpoint{}, fmt.Errorf("new secret: %w", err)
	}
	now := h.clock.Now()
	e := domain.Endpoint{
		ID: uuid.New(), URL: u, Description: desc, Events: events, Secret: secret,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := h.store.CreateEndpoint(ctx, e); err != nil {
		return domain.Endpoint{}, fmt.Errorf("create endpoint: %w", err)
	}
	h.log.InfoContext(ctx, "webhook endpoint created", "endpoint_id", e.ID, "host", hostOf(e.URL), "events", e.Events)
	return e, nil
}
