package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// GetEndpointHandler reads one endpoint.
type GetEndpointHandler struct{ store Store }

// NewGetEndpointHandler returns the handler; store is required.
func NewGetEndpointHandler(store Store) (*GetEndpointHandler, error) {
	if store == nil {
		return nil, errors.New("new get endpoint handler: store is required")
	}
	return &GetEndpointHandler{store: store}, nil
}

// Handle returns the endpoint with id and its pending messages, or
// domain.ErrNotFound.
func (h *GetEndpointHandler) Handle(ctx context.Context, id string) (EndpointView, error) {
	uid, err := parseID(id)
	if err != nil {
		return EndpointView{}, err
	}
	e, err := h.store.GetEndpoint(ctx, uid)
	if err != nil {
		return EndpointView{}, fmt.Errorf("get endpoint: %w", err)
	}
	pending, err := h.store.PendingMessages(ctx, []uuid.UUID{e.ID})
	if err != nil {
		return EndpointView{}, fmt.Errorf("count pending messages: %w", err)
	}
	return EndpointView{Endpoint: e, Pending: pending[e.ID]}, nil
}
