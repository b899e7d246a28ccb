package domain

import (
	"time"

	"github.com/google/uuid"
)

// HistorySize is how many attempts are kept per endpoint, the most recent.
const HistorySize = 100

// The results of an attempt.
const (
	// ResultSuccess: the endpoint answered 2xx.
	ResultSuccess = "success"
	// ResultFailure: it did not; see the status code or the error.
	ResultFailure = "failure"
)

// Attempt is one try of one message, as the history keeps it.
type Attempt struct {
	EndpointID uuid.UUID
	// Seq orders an endpoint's attempts, from 1; the store sets it.
	Seq       int64
	MessageID uuid.UUID
	EventType string
	// Attempt is the try's number for its message, from 1.
	Attempt int
	At      time.Time
	// StatusCode is the endpoint's answer; 0 when none came.
	StatusCode int
	// Error says why a try failed, in words safe to show (never the URL).
	Error    string
	Duration time.Duration
	Result   string
	// NextAttemptAt is when the message is tried again after a failed
	// attempt; nil when it is not (sent, given up, endpoint disabled).
	NextAttemptAt *time.Time
}

// WebhookID is the webhook-id the try was sent with.
func (a Attempt) WebhookID() string { return WebhookID(a.MessageID) }
