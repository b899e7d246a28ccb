package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ListEndpointsHandler lists the endpoints.
type ListEndpointsHandler struct{ store Store }

// NewListEndpointsHandler returns the handler; store is required.
func NewListEndpointsHandler(store Store) (*ListEndpointsHandler, error) {
	if store == nil {
		return nil, errors.New("new list endpoints handler: store is required")
	}
	return &ListEndpointsHandler{store: store}, nil
}

// Handle returns every endpoint, oldest first, with its pending messages.
func (h *ListEndpointsHandler) Handle(ctx context.Context) ([]EndpointView, error) {
	endpoints, err := h.store.ListEndpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	ids := make([]uuid.UUID, 0, len(endpoints))
	for _, e := range endpoints {
		ids = append(ids, e.ID)
	}
	pending, err := h.store.PendingMessages(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("count pending messages: %w", err)
	}
	out := make([]EndpointView, 0, len(endpoints))
	for _, e := range endpoints {
		out = append(out, EndpointView{Endpoint: e, Pending: pending[e.ID]})
	}
	return out, nil
}
