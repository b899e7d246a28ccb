package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// PatchEndpoint changes some of an endpoint's settings in place: Patch is
// a JSON merge patch (RFC 7396) of its url, events and description, such
// as {"url": "https://crm.example.com/hooks/v2"}. What it does not name
// stays as it was.
type PatchEndpoint struct {
	ID    string
	Patch []byte
}

// ErrMalformedPatch is returned for a patch that is not a JSON object.
var ErrMalformedPatch = errors.New("the body must be a JSON object (a JSON merge patch)")

// patchable are the members a patch may name.
var patchable = []string{"url", "events", "description"}

// PatchEndpointHandler changes endpoints in place: their secrets, their
// messages and their history stay.
type PatchEndpointHandler struct {
	store  Store
	policy HostPolicy
	clock  clock.Clock
	log    *slog.Logger
}

// NewPatchEndpointHandler returns the handler; every dependency is
// required.
func NewPatchEndpointHandler(store Store, policy HostPolicy, clk clock.Clock, logger *slog.Logger) (*PatchEndpointHandler, error) {
	if store == nil || policy == nil || clk == nil || logger == nil {
		return nil, errors.New("new patch endpoint handler: nil dependency")
	}
	return &PatchEndpointHandler{store: store, policy: policy, clock: clk, log: logger}, nil
}

// Handle validates the patch as CreateEndpointHandler validates a new
// endpoint and applies it to the endpoint with id atomically (two patches
// at once both take effect, each member as the later one wrote it). The
// messages waiting for the endpoint go to its new URL; new events only
// (those that happen after the patch) follow its new event types. Its
// secret, its enabled state and its history stay; updated_at moves only
// when a setting changed, so an empty patch changes nothing.
//
// It returns domain.ErrNotFound for an unknown id, ErrMalformedPatch for
// a patch that is not a JSON object, and an *InvalidInputError naming
// "url", "events", "events[i]", "description" or the unknown member for
// bad input; nothing is written then.
func (h *PatchEndpointHandler) Handle(ctx context.Context, cmd PatchEndpoint) (EndpointView, error) {
	uid, err := parseID(cmd.ID)
	if err != nil {
		return EndpointView{}, err
	}
	change, err := h.parse(cmd.Patch)
	if err != nil {
		return EndpointView{}, err
	}
	var changed []string
	e, err := h.store.UpdateEndpoint(ctx, uid, func(e *domain.Endpoint) error {
		changed = e.Change(change, h.clock.Now())
		return nil
	})
	if err != nil {
		return EndpointView{}, fmt.Errorf("patch endpoint: %w", err)
	}
	pending, err := h.store.PendingMessages(ctx, []uuid.UUID{e.ID})
	if err != nil {
		return EndpointView{}, fmt.Errorf("count pending messages: %w", err)
	}
	if len(changed) > 0 {
		// The host only: a path or query may hold a credential.
		h.log.InfoContext(ctx, "webhook endpoint changed", "endpoint_id", e.ID, "changed", changed,
			"host", hostOf(e.URL), "events", e.Events)
	}
	return EndpointView{Endpoint: e, Pending: pending[e.ID]}, nil
}

// parse reads and validates a merge patch; members are checked in a
// stable order (unknown ones first, by name), the first bad one named.
func (h *PatchEndpointHandler) parse(patch []byte) (domain.EndpointChange, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(patch, &members); err != nil || members == nil {
		return domain.EndpointChange{}, ErrMalformedPatch
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(patchable, name) {
			continue
		}
		switch name {
		case "secret":
			return domain.EndpointChange{}, invalid(name, "cannot be patched: POST /api/v1/webhooks/{id}/rotate gives the endpoint a new one")
		case "enabled":
			return domain.EndpointChange{}, invalid(name, "cannot be patched: POST /api/v1/webhooks/{id}/enable enables a disabled endpoint and sends what waited")
		default:
			return domain.EndpointChange{}, invalid(name, "unknown field: a patch may name url, events and description")
		}
	}

	var c domain.EndpointChange
	if raw, ok := members["url"]; ok {
		var s string
		if isNull(raw) {
			return c, invalid("url", "is required: it cannot be removed")
		}
		if json.Unmarshal(raw, &s) != nil {
			return c, invalid("url", "must be a string")
		}
		u, err := checkURL(s, h.policy)
		if err != nil {
			return c, err
		}
		c.URL = &u
	}
	if raw, ok := members["events"]; ok {
		var events []string
		if isNull(raw) {
			return c, invalid("events", "is required: it cannot be removed")
		}
		if json.Unmarshal(raw, &events) != nil {
			return c, invalid("events", "must be an array of event types")
		}
		checked, err := checkEvents(events)
		if err != nil {
			return c, err
		}
		c.Events = checked
	}
	if raw, ok := members["description"]; ok {
		var d string
		// null removes it: the endpoint has none then, as when made without one.
		if !isNull(raw) && json.Unmarshal(raw, &d) != nil {
			return c, invalid("description", "must be a string, or null to remove it")
		}
		checked, err := checkDescription(d)
		if err != nil {
			return c, err
		}
		c.Description = &checked
	}
	return c, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
