package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Message is one event waiting to be sent to one endpoint: the webhooks
// module's outbox row. It is written in the transaction of the event that
// caused it and deleted once the endpoint took it (or gave up on).
type Message struct {
	ID         uuid.UUID
	EndpointID uuid.UUID
	// EventKey identifies the event: (EndpointID, EventKey) is unique, so
	// an event consumed twice makes one message.
	EventKey  string
	EventType string
	// Payload is the body, exactly as signed and sent on every try.
	Payload   []byte
	CreatedAt time.Time
	// NextAttemptAt is when it is due; while a dispatcher sends it, the
	// end of its lease.
	NextAttemptAt time.Time
	// ExpiresAt is when it is given up on: CreatedAt (or the endpoint's
	// re-enabling) plus webhooks.max_age.
	ExpiresAt time.Time
	// Attempts counts the tries made, the one in flight included.
	Attempts int
}

// WebhookID is the webhook-id header of every try of the message: "msg_"
// and its id.
func (m Message) WebhookID() string { return WebhookID(m.ID) }

// WebhookID returns the webhook-id of the message with id.
func WebhookID(id uuid.UUID) string { return "msg_" + strings.ReplaceAll(id.String(), "-", "") }

// Clone returns a deep copy.
func (m Message) Clone() Message {
	c := m
	c.Payload = append([]byte(nil), m.Payload...)
	return c
}
