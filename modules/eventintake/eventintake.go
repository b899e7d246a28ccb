// Package eventintake is the public contract of the event intake: the
// envelope other services publish (on the notifier.events exchange or
// POST /api/v1/events) and the event types it maps to postings.
package eventintake

import (
	"encoding/json"
	"time"
)

// Exchange is the default durable fanout exchange (and in-memory topic)
// that other services publish events to.
const Exchange = "notifier.events"

// Envelope is an event published by another service.
type Envelope struct {
	EventID     string          `json:"event_id,omitempty"`
	FromService string          `json:"from_service"`
	Event       string          `json:"event"`
	Details     json.RawMessage `json:"details"`
	OccurredAt  *time.Time      `json:"occurred_at,omitempty"`
}

// The event types the intake knows, as published by their services.
const (
	EventUserSignedUp     = "user_signed_up"    // from auth
	EventNewMovies        = "new_movies"        // from cinema_scanner
	EventNewEpisode       = "new_episode"       // from fastapi
	EventReactionsSummary = "reactions_summary" // from activity_api
)
