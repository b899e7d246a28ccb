package domain

import (
	"errors"
	"fmt"
)

// ErrMalformedJSON is returned (wrapped) by DecodeEvent when the payload is
// not JSON at all.
var ErrMalformedJSON = errors.New("event is not valid JSON")

// ErrTooLarge is returned (wrapped) by CheckSize for a payload over the
// intake's cap (intake.max_body).
var ErrTooLarge = errors.New("event body is over intake.max_body")

// CheckSize returns an error wrapping ErrTooLarge, naming the payload's
// size and the cap but nothing of its content, when payload is longer than
// maxBody bytes; nil otherwise.
func CheckSize(payload []byte, maxBody int64) error {
	if int64(len(payload)) <= maxBody {
		return nil
	}
	return fmt.Errorf("%w: %d bytes, the cap is %d", ErrTooLarge, len(payload), maxBody)
}

// InvalidEventError says why a well-formed JSON payload is not an event the
// intake accepts. Field is the JSON path of the offending field relative to
// the envelope ("event", "details.user", "details.stats[0].target"), or
// empty when the payload as a whole is wrong. Reason never quotes the
// values of details, which may carry personal data.
type InvalidEventError struct {
	Field  string
	Reason string
}

// Error returns "invalid event: <field>: <reason>".
func (e *InvalidEventError) Error() string {
	if e.Field == "" {
		return "invalid event: " + e.Reason
	}
	return "invalid event: " + e.Field + ": " + e.Reason
}

func invalid(field, reason string) *InvalidEventError {
	return &InvalidEventError{Field: field, Reason: reason}
}
