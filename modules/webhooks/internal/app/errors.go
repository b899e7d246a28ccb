package app

import "fmt"

// InvalidInputError is bad input to a use case: Field names the input field
// as the caller spells it ("url", "events") and Message says what is wrong
// in words safe to show the caller.
type InvalidInputError struct {
	Field   string
	Message string
}

// Error returns "field: message".
func (e *InvalidInputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

func invalid(field, format string, args ...any) error {
	return &InvalidInputError{Field: field, Message: fmt.Sprintf(format, args...)}
}
