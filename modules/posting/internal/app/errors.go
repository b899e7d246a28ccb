// Package app holds the posting module's use cases, one per file: creating,
// expanding, settling, cancelling and scheduling postings, and reading them.
// Transports (HTTP, Watermill) call them through the ports package.
package app

import (
	"errors"
	"fmt"
)

// ErrorCode classifies the errors the use cases return to their callers.
type ErrorCode string

// The error codes.
const (
	// CodeInvalid is a malformed request; Error.Field names the culprit.
	CodeInvalid ErrorCode = "invalid"
	// CodeNotFound is a request about a posting that does not exist.
	CodeNotFound ErrorCode = "not_found"
	// CodeConflict is a request the posting's state does not allow.
	CodeConflict ErrorCode = "conflict"
	// CodeKeyReused is a request whose idempotency key already made a
	// posting for a different request; Error.Field is idempotency_key.
	CodeKeyReused ErrorCode = "key_reused"
)

// Error is a use-case error with a message that is safe to show callers.
// Anything else a use case returns is internal.
type Error struct {
	Code ErrorCode
	// Field is the request field at fault (as named on the wire), if any.
	Field   string
	Message string
}

// Error returns the field and the message.
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// ErrorCodeOf returns the code of err when it is (or wraps) an *Error, or "".
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(id string) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("no posting %q", id)}
}
