// Package domain is the intake's event model: the envelope other services
// publish, the details each known event type carries, and the rules that
// accept or reject them. The AMQP consumer and the HTTP port both decode
// with DecodeEvent, so an event is judged the same way whichever way it
// comes in.
package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/notifier/notifier/modules/eventintake"
)

// The envelope's fields.
const (
	fieldEventID     = "event_id"
	fieldFromService = "from_service"
	fieldEvent       = "event"
	fieldDetails     = "details"
	fieldOccurredAt  = "occurred_at"
)

// Event is a decoded, validated event.
type Event struct {
	// ID is the event_id as sent; empty when the publisher gave none.
	ID          string
	FromService string
	// Type is one of the event types of the contract (eventintake.Event*).
	Type       string
	OccurredAt *time.Time
	// Details is UserSignedUp, NewMovies, NewEpisode or ReactionsSummary,
	// matching Type.
	Details Details
}

// Details is the validated details object of one known event type.
type Details interface {
	// EventType returns the event type these details belong to.
	EventType() string
}

// eventKind describes one known event type.
type eventKind struct {
	service string
	decode  func(details object) (Details, error)
}

var kinds = map[string]eventKind{
	eventintake.EventUserSignedUp:     {service: "auth", decode: decodeUserSignedUp},
	eventintake.EventNewMovies:        {service: "cinema_scanner", decode: decodeNewMovies},
	eventintake.EventNewEpisode:       {service: "fastapi", decode: decodeNewEpisode},
	eventintake.EventReactionsSummary: {service: "activity_api", decode: decodeReactionsSummary},
}

// KnownTypes returns the event types the intake accepts, sorted.
func KnownTypes() []string {
	types := make([]string, 0, len(kinds))
	for t := range kinds {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// ExpectedService returns the service that publishes eventType (such as
// "auth" for user_signed_up), or "" for an unknown type.
func ExpectedService(eventType string) string { return kinds[eventType].service }

// DecodeEvent decodes and validates an event envelope. Fields the envelope
// does not define are ignored, so publishers may add their own (tracing
// IDs, versions). It returns an error wrapping ErrMalformedJSON when
// payload is not JSON, and an *InvalidEventError naming the field when the
// envelope or its details break the rules: from_service and event are
// required non-blank strings, event is a known type, details is an object
// that passes that type's own checks, event_id (optional) is a usable
// identifier and occurred_at (optional) an RFC 3339 timestamp.
func DecodeEvent(payload []byte) (Event, error) {
	if !json.Valid(payload) {
		var probe any
		err := json.Unmarshal(payload, &probe)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return Event{}, fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil || top == nil {
		return Event{}, invalid("", "the event must be a JSON object")
	}
	env := object{fields: top}

	var ev Event
	var err error
	if ev.FromService, err = env.requiredString(fieldFromService); err != nil {
		return Event{}, err
	}
	if ev.Type, err = env.requiredString(fieldEvent); err != nil {
		return Event{}, err
	}
	kind, ok := kinds[ev.Type]
	if !ok {
		return Event{}, invalid(fieldEvent, fmt.Sprintf("unknown event type %q (known: %s)",
			truncate(ev.Type, 64), strings.Join(KnownTypes(), ", ")))
	}
	details, err := env.object(fieldDetails)
	if err != nil {
		return Event{}, err
	}
	if ev.ID, err = env.optionalString(fieldEventID); err != nil {
		return Event{}, err
	}
	if ev.ID != "" {
		if reason := validID(ev.ID); reason != "" {
			return Event{}, invalid(fieldEventID, reason)
		}
	}
	occurredAt, err := env.optionalString(fieldOccurredAt)
	if err != nil {
		return Event{}, err
	}
	if occurredAt != "" {
		t, perr := time.Parse(time.RFC3339Nano, occurredAt)
		if perr != nil {
			return Event{}, invalid(fieldOccurredAt, "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z")
		}
		ev.OccurredAt = &t
	}
	if ev.Details, err = kind.decode(details); err != nil {
		return Event{}, err
	}
	return ev, nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
