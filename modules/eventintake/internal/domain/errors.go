package domain

import "errors"

// ErrMalformedJSON is returned (wrapped) by DecodeEvent when the payload is
// not JSON at all.
var ErrMalformedJSON = errors.New("event is not valid JSON")

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
