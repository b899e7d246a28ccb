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

// patchable are the members a patch may change.
var patchable = []string{"url", "events", "description"}

// ReadOnlyMembers are members of the endpoint as GET answers it that a
// patch may carry and that it does not change: what a GET answered is
// accepted back. id and enabled are read-only too but checked: id must be
// the endpoint's, enabled its current state.
var ReadOnlyMembers = []string{
	"$schema", "pending_messages", "created_at", "updated_at", "disabled_at", "disabled_reason",
	"last_success_at", "previous_secret_expires_at",
}

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
// endpoint and applies it to the endpoint with id atomically: two patches
// at once both take effect, each member as the later one wrote it. The
// messages waiting for the endpoint go to its new URL; only the events
// that happen after the patch follow its new event types. Its secret, its
// enabled state and its history stay; updated_at moves only when a
// setting changed, so an empty patch changes nothing. What a GET answered
// is accepted back: the read-only members are ignored (ReadOnlyMembers),
// but id must be the endpoint's and enabled its current state, since
// enabling stays EnableEndpointHandler's.
//
// It returns domain.ErrNotFound for an unknown id, ErrMalformedPatch for
// a patch that is not a JSON object, and an *InvalidInputError naming
// "url", "events", "events[i]", "description", "id", "enabled" or the
// member it may not hold for bad input; nothing is written then.
func (h *PatchEndpointHandler) Handle(ctx context.Context, cmd PatchEndpoint) (EndpointView, error) {
	uid, err := parseID(cmd.ID)
	if err != nil {
		return EndpointView{}, err
	}
	change, enabled, err := h.parse(uid, cmd.Patch)
	if err != nil {
		return EndpointView{}, err
	}
	var changed []string
	e, err := h.store.UpdateEndpoint(ctx, uid, func(e *domain.Endpoint) error {
		if err := checkEnabled(enabled, *e); err != nil {
			return err
		}
		changed = e.Change(change, h.clock.Now())
		return nil
	})
	var inv *InvalidInputError
	if errors.As(err, &inv) {
		return EndpointView{}, inv
	}
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

// checkEnabled refuses a patch whose enabled is not the endpoint's state:
// an endpoint is disabled by its failures only, and enabled again by
// EnableEndpointHandler, which also makes what waited due at once.
func checkEnabled(enabled *bool, e domain.Endpoint) error {
	switch {
	case enabled == nil || *enabled == e.Enabled():
		return nil
	case *enabled:
		return invalid("enabled", "cannot be patched: POST /api/v1/webhooks/{id}/enable enables a disabled endpoint and sends what waited")
	default:
		return invalid("enabled", "cannot be patched: an endpoint is disabled by its failures only (delete it to stop its calls)")
	}
}

// parse reads and validates a merge patch of the endpoint id; members are
// checked in a stable order (those it may not hold first, by name), the
// first bad one named. enabled is what the patch says of it, if anything.
func (h *PatchEndpointHandler) parse(id uuid.UUID, patch []byte) (c domain.EndpointChange, enabled *bool, err error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(patch, &members); err != nil || members == nil {
		return c, nil, ErrMalformedPatch
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		raw := members[name]
		switch {
		case slices.Contains(patchable, name), slices.Contains(ReadOnlyMembers, name):
		case name == "id":
			var got string
			if json.Unmarshal(raw, &got) != nil || got != id.String() {
				return c, nil, invalid(name, "is not the id of the endpoint of the path")
			}
		case name == "enabled":
			var want bool
			if json.Unmarshal(raw, &want) != nil || isNull(raw) {
				return c, nil, invalid(name, "must be a boolean")
			}
			enabled = &want
		case name == "secret":
			return c, nil, invalid(name, "cannot be patched: POST /api/v1/webhooks/{id}/rotate gives the endpoint a new one")
		default:
			return c, nil, invalid(name, "unknown field: a patch may change url, events and description")
		}
	}
	c, err = h.parseSettings(members)
	return c, enabled, err
}

// parseSettings validates the members a patch may change.
func (h *PatchEndpointHandler) parseSettings(members map[string]json.RawMessage) (domain.EndpointChange, error) {
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
