package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/notifier/notifier/platform/quiethours"
)

// FieldError names one input field that breaks a rule. Field is a dotted
// path such as "user_id" or "channels.fax".
type FieldError struct {
	Field   string
	Message string
	Value   any
}

// Error returns "field: message".
func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// InvalidInputError reports input that breaks the module's rules; each
// offending field is listed. Its text is safe to show to the caller.
type InvalidInputError struct {
	Fields []FieldError
}

// Error lists the offending fields.
func (e *InvalidInputError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// ValidateUserID returns the problem with id, if any.
func ValidateUserID(id string) []FieldError {
	if ValidUserID(id) {
		return nil
	}
	return []FieldError{{
		Field:   "user_id",
		Message: "must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'",
		Value:   id,
	}}
}

// ValidateOverrides returns every problem with o, in a stable order: a
// channel that is not supported, a type name that is not well-formed, in
// channels, types and per_type.
func ValidateOverrides(o Overrides) []FieldError {
	var errs []FieldError
	for _, ch := range slices.Sorted(maps.Keys(o.Channels)) {
		if !IsKnownChannel(ch) {
			errs = append(errs, FieldError{
				Field:   "channels." + ch,
				Message: fmt.Sprintf("unknown channel (supported: %s)", strings.Join(knownChannels, ", ")),
				Value:   ch,
			})
		}
	}
	for _, t := range slices.Sorted(maps.Keys(o.Types)) {
		if !ValidTypeName(t) {
			errs = append(errs, FieldError{
				Field:   "types." + t,
				Message: "notification type must match ^[a-z][a-z0-9_]{0,63}$",
				Value:   t,
			})
		}
	}
	if q := o.QuietHours; q != nil {
		if _, err := quiethours.Parse(q.Start, q.End); err != nil {
			field, value := "quiet_hours.start", q.Start
			if _, startErr := quiethours.Parse(q.Start, q.Start); startErr == nil {
				field, value = "quiet_hours.end", q.End
			}
			errs = append(errs, FieldError{Field: field, Message: `must be a time "HH:MM" from 00:00 to 23:59`, Value: value})
		}
	}
	for _, t := range slices.Sorted(maps.Keys(o.PerType)) {
		if !ValidTypeName(t) {
			errs = append(errs, FieldError{
				Field:   "per_type." + t,
				Message: "notification type must match ^[a-z][a-z0-9_]{0,63}$",
				Value:   t,
			})
			continue
		}
		for _, ch := range slices.Sorted(maps.Keys(o.PerType[t])) {
			if !IsKnownChannel(ch) {
				errs = append(errs, FieldError{
					Field:   "per_type." + t + "." + ch,
					Message: fmt.Sprintf("unknown channel (supported: %s)", strings.Join(knownChannels, ", ")),
					Value:   ch,
				})
			}
		}
	}
	return errs
}
