package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// DeleteEndpointHandler deletes endpoints.
type DeleteEndpointHandler struct {
	store Store
	log   *slog.Logger
}

// NewDeleteEndpointHandler returns the handler; every dependency is
// required.
func NewDeleteEndpointHandler(store Store, logger *slog.Logger) (*DeleteEndpointHandler, error) {
	if store == nil || logger == nil {
		return nil, errors.New("new delete endpoint handler: nil dependency")
	}
	return &DeleteEndpointHandler{store: store, log: logger}, nil
}

// Handle deletes the endpoint with id, the messages waiting for it and its
// history; a call in flight finishes. It returns domain.ErrNotFound for an
// unknown id.
func (h *DeleteEndpointHandler) Handle(ctx context.Context, id string) error {
	uid, err := parseID(id)
	if err != nil {
		return err
	}
	if err := h.store.DeleteEndpoint(ctx, uid); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	h.log.InfoContext(ctx, "webhook endpoint deleted", "endpoint_id", uid)
	return nil
}
