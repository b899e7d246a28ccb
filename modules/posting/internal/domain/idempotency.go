package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Request is what a posting request asks for, as its fingerprint covers
// it: every field that changes what is sent, as the caller gave it (before
// defaults are filled in), and not the idempotency key.
type Request struct {
	FromEvent        string
	FromService      string
	NotificationType string
	Receivers        string
	Template         string
	Channels         []string
	TemplateContext  map[string]any
	Priority         string
	SendAt           *time.Time
	// ExpiresIn is the relative expiry of an HTTP request (expires_in), so
	// that its repeat, which computes a later expires_at, is the same
	// request; 0 when none.
	ExpiresIn time.Duration
	// ExpiresAt is the absolute expiry of a command; nil when none.
	ExpiresAt *time.Time
	// WebhookURL is the posting's URL of the webhook channel; "" when none.
	WebhookURL string
}

// Fingerprint returns "sha256:" and the hex SHA-256 of r as canonical JSON:
// object keys sorted (the template context's too, at every depth), the
// channels sorted without duplicates, the text fields trimmed as the
// request's validation trims them and the times as UTC instants. So two
// requests that differ only in spacing, key order, channel order or time
// zone have one fingerprint; any other difference gives another. It fails
// only for a template context that is not JSON.
func (r Request) Fingerprint() (string, error) {
	channels := slices.Clone(r.Channels)
	slices.Sort(channels)
	channels = slices.Compact(channels)
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	var expiresIn string
	if r.ExpiresIn > 0 {
		expiresIn = r.ExpiresIn.String()
	}
	raw, err := json.Marshal(struct {
		FromEvent        string         `json:"from_event"`
		FromService      string         `json:"from_service"`
		NotificationType string         `json:"notification_type"`
		Receivers        string         `json:"receivers"`
		Template         string         `json:"template"`
		Channels         []string       `json:"delivery_type"`
		TemplateContext  map[string]any `json:"template_context"`
		Priority         string         `json:"priority"`
		SendAt           *time.Time     `json:"send_at"`
		ExpiresIn        string         `json:"expires_in"`
		ExpiresAt        *time.Time     `json:"expires_at"`
		// Left out when empty, so that the fingerprints of requests
		// without it are those they had before it existed.
		WebhookURL string `json:"webhook_url,omitempty"`
	}{
		FromEvent:        r.FromEvent,
		FromService:      r.FromService,
		NotificationType: strings.TrimSpace(r.NotificationType),
		Receivers:        strings.TrimSpace(r.Receivers),
		Template:         strings.TrimSpace(r.Template),
		Channels:         channels,
		TemplateContext:  r.TemplateContext,
		Priority:         r.Priority,
		SendAt:           utc(r.SendAt),
		ExpiresIn:        expiresIn,
		ExpiresAt:        utc(r.ExpiresAt),
		WebhookURL:       strings.TrimSpace(r.WebhookURL),
	})
	if err != nil {
		return "", fmt.Errorf("fingerprint request: %w", err)
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// SameRequest reports whether a repeat whose fingerprint is fingerprint
// asks for what p was made for. A posting stored before fingerprints were
// kept (migration 00008) has none and matches any request.
func (p Posting) SameRequest(fingerprint string) bool {
	return p.RequestFingerprint == "" || p.RequestFingerprint == fingerprint
}
