// Package domain holds the webhooks module's entities and rules: endpoints
// and their secrets, the messages waiting to be sent to them, the history
// of attempts, and the retry schedule. It knows nothing of HTTP, SQL or
// the bus.
package domain

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
)

// ErrNotFound is returned for an endpoint that does not exist.
var ErrNotFound = errors.New("webhook endpoint not found")

// SecretPrefix starts every signing secret, as Standard Webhooks writes
// them: "whsec_" and the key in standard base64.
const SecretPrefix = "whsec_"

// secretBytes is the size of a generated key: 256 bits, HMAC-SHA256's
// block-sized sweet spot and more than the 24 bytes the spec asks for.
const secretBytes = 32

// NewSecret returns a new random signing secret, "whsec_" and 32 random
// bytes in base64.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Endpoint is a URL that receives the events it subscribes to.
type Endpoint struct {
	ID          uuid.UUID
	URL         string
	Description string
	// Events are the event types it receives (webhooks.EventTypes).
	Events []string
	// Secret signs every call. It is kept as it is, since signing needs
	// it; it is shown only when made (create, rotate) and never logged.
	Secret string
	// PreviousSecret signs too, beside Secret, until
	// PreviousSecretExpiresAt: the grace period of a rotation.
	PreviousSecret          string
	PreviousSecretExpiresAt *time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
	// DisabledAt is set, with DisabledReason, when the endpoint stopped
	// receiving calls: every try of a message failed for
	// webhooks.max_age, or it answered 410 Gone.
	DisabledAt     *time.Time
	DisabledReason string
	// LastSuccessAt is when it last answered 2xx.
	LastSuccessAt *time.Time
}

// Enabled reports whether calls are made to the endpoint.
func (e Endpoint) Enabled() bool { return e.DisabledAt == nil }

// Subscribes reports whether the endpoint receives events of eventType.
func (e Endpoint) Subscribes(eventType string) bool { return slices.Contains(e.Events, eventType) }

// SigningSecrets returns the secrets that sign a call made at now: the
// current one, then the previous one while its grace period lasts.
func (e Endpoint) SigningSecrets(now time.Time) []string {
	out := []string{e.Secret}
	if e.PreviousSecret != "" && e.PreviousSecretExpiresAt != nil && now.Before(*e.PreviousSecretExpiresAt) {
		out = append(out, e.PreviousSecret)
	}
	return out
}

// Rotate makes secret the signing secret; the one it replaces keeps
// signing beside it for grace (none when grace is 0). A secret replaced
// earlier stops at once.
func (e *Endpoint) Rotate(secret string, grace time.Duration, now time.Time) {
	e.PreviousSecret, e.PreviousSecretExpiresAt = "", nil
	if grace > 0 {
		until := now.Add(grace)
		e.PreviousSecret, e.PreviousSecretExpiresAt = e.Secret, &until
	}
	e.Secret = secret
	e.UpdatedAt = now
}

// Disable stops calls to the endpoint, saying why, unless it is disabled
// already (the first reason stands). It reports whether it changed it.
func (e *Endpoint) Disable(reason string, now time.Time) bool {
	if !e.Enabled() {
		return false
	}
	at := now
	e.DisabledAt, e.DisabledReason, e.UpdatedAt = &at, reason, now
	return true
}

// Enable makes calls to a disabled endpoint again.
func (e *Endpoint) Enable(now time.Time) {
	e.DisabledAt, e.DisabledReason, e.UpdatedAt = nil, "", now
}

// EndpointChange is a change of an endpoint's settings, each validated
// already: a nil field stays as it is.
type EndpointChange struct {
	URL         *string
	Events      []string
	Description *string
}

// Change applies c and returns the names of the settings it changed
// ("url", "events", "description"); UpdatedAt moves to now only when one
// did. It leaves the secrets, the enabled state and the messages alone:
// the messages waiting are the endpoint's and go to its new URL.
func (e *Endpoint) Change(c EndpointChange, now time.Time) []string {
	var changed []string
	if c.URL != nil && *c.URL != e.URL {
		e.URL = *c.URL
		changed = append(changed, "url")
	}
	if c.Events != nil && !slices.Equal(c.Events, e.Events) {
		e.Events = slices.Clone(c.Events)
		changed = append(changed, "events")
	}
	if c.Description != nil && *c.Description != e.Description {
		e.Description = *c.Description
		changed = append(changed, "description")
	}
	if len(changed) > 0 {
		e.UpdatedAt = now
	}
	return changed
}

// Clone returns a deep copy.
func (e Endpoint) Clone() Endpoint {
	c := e
	c.Events = slices.Clone(e.Events)
	c.PreviousSecretExpiresAt = clonePtr(e.PreviousSecretExpiresAt)
	c.DisabledAt = clonePtr(e.DisabledAt)
	c.LastSuccessAt = clonePtr(e.LastSuccessAt)
	return c
}

func clonePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}
