package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrHostNotAllowed is returned, without any request being made, for a URL whose
	// host is neither a configured upstream nor an in-process handler, for a URL
	// with a scheme other than http or https, and for a redirect that leaves the
	// upstream. It is permanent.
	ErrHostNotAllowed = errors.New("upstream host not allowed")

	// ErrInvalidURL is returned for a URL that cannot be parsed or that carries
	// credentials (userinfo). It is permanent.
	ErrInvalidURL = errors.New("invalid upstream url")

	// ErrNotFound is returned when the upstream answers 404. It is permanent.
	// The returned error is also a *StatusError with Code 404.
	ErrNotFound = errors.New("upstream resource not found")

	// ErrResponseTooLarge is returned when a response body exceeds Config.MaxBytes.
	// It is permanent.
	ErrResponseTooLarge = errors.New("upstream response too large")

	// ErrInvalidResponse is returned when a successful response is not valid JSON
	// for the destination value. It is permanent.
	ErrInvalidResponse = errors.New("invalid upstream response")
)

// StatusError is an unsuccessful HTTP answer from an upstream. A 429 or 5xx code is
// transient; any other code is permanent. A 404 also matches ErrNotFound.
type StatusError struct {
	Code int
}

// Error returns the status code and its text.
func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream status %d %s", e.Code, http.StatusText(e.Code))
}

// Is reports whether a 404 StatusError is compared with ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// Transient reports whether the status is worth retrying: 429 or 5xx.
func (e *StatusError) Transient() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// transientError marks a network failure or an attempt timeout.
type transientError struct {
	err error
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// IsTransient reports whether a later retry of the same request may succeed: a
// network failure, an attempt timeout, a 429 or 5xx answer, or a cancelled or
// expired context. Permanent errors (ErrHostNotAllowed, ErrInvalidURL, ErrNotFound,
// other *StatusError codes, ErrResponseTooLarge, ErrInvalidResponse) report false,
// as does nil.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Transient()
	}
	var te *transientError
	if errors.As(err, &te) {
		return true
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
