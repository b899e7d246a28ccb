package logging

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
)

// MaskingHandler is a slog.Handler that masks personal data before the
// handler it wraps sees it: the value of every attribute whose key names an
// email, a phone, a "to" or an address (compared word by word and
// case-insensitively, so "email", "Email", "recipient_email", "to",
// "toAddress", "to_address" and "phone_number" all do, "token" and "topic"
// do not) goes through MaskAddress, and so does every value inside a group
// whose key names one. String values are masked; values of other kinds
// that can carry an address (numbers, errors, Stringers, slices, anything
// that formats) are formatted first and masked as strings, a []string
// element by element; booleans, durations and times, which cannot carry
// one, are left alone. Values already masked stay as they are, so call
// sites that mask themselves are not masked twice.
//
// It keeps the WithAttrs and WithGroup semantics of the handler it wraps,
// and, holding no mutable state, is safe for concurrent use.
type MaskingHandler struct {
	next slog.Handler
	// inSensitive is set when the open group (WithGroup) names personal
	// data: every attribute added under it is masked.
	inSensitive bool
}

var _ slog.Handler = MaskingHandler{}

// NewMaskingHandler returns a MaskingHandler writing to next.
func NewMaskingHandler(next slog.Handler) MaskingHandler {
	return MaskingHandler{next: next}
}

// Enabled implements slog.Handler.
func (h MaskingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler: it hands over a copy of r whose
// attributes are masked; r itself is not modified.
func (h MaskingHandler) Handle(ctx context.Context, r slog.Record) error {
	masked := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		masked.AddAttrs(maskAttr(a, h.inSensitive))
		return true
	})
	return h.next.Handle(ctx, masked)
}

// WithAttrs implements slog.Handler.
func (h MaskingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = maskAttr(a, h.inSensitive)
	}
	return MaskingHandler{next: h.next.WithAttrs(masked), inSensitive: h.inSensitive}
}

// WithGroup implements slog.Handler.
func (h MaskingHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return MaskingHandler{next: h.next.WithGroup(name), inSensitive: h.inSensitive || SensitiveKey(name)}
}

// maskAttr returns a with its value masked when its key, or that of a group
// around it (sensitive), names personal data.
func maskAttr(a slog.Attr, sensitive bool) slog.Attr {
	sensitive = sensitive || SensitiveKey(a.Key)
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		group := v.Group()
		masked := make([]slog.Attr, len(group))
		for i, g := range group {
			masked[i] = maskAttr(g, sensitive)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(masked...)}
	}
	if !sensitive {
		return slog.Attr{Key: a.Key, Value: v}
	}
	return slog.Attr{Key: a.Key, Value: maskValue(v)}
}

// maskValue masks one value of a sensitive attribute.
func maskValue(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(MaskAddress(v.String()))
	case slog.KindBool, slog.KindDuration, slog.KindTime:
		return v
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			return v
		case []string:
			masked := make([]string, len(x))
			for i, s := range x {
				masked[i] = MaskAddress(s)
			}
			return slog.AnyValue(masked)
		case error:
			return slog.StringValue(MaskAddress(x.Error()))
		case fmt.Stringer:
			return slog.StringValue(MaskAddress(x.String()))
		default:
			return slog.StringValue(MaskAddress(fmt.Sprint(x)))
		}
	default: // numbers
		return slog.StringValue(MaskAddress(v.String()))
	}
}

// sensitiveWords are the words of an attribute key that name personal data.
var sensitiveWords = map[string]bool{
	"email": true, "emails": true,
	"phone": true, "phones": true,
	"to":      true,
	"address": true, "addresses": true,
}

// SensitiveKey reports whether an attribute key names an email, a phone, a
// "to" or an address: whether one of its words (split at anything but
// letters and digits, and where a lower-case letter meets an upper-case
// one) is, case aside, one of email(s), phone(s), to, address(es).
func SensitiveKey(key string) bool {
	start := -1
	prev := rune(0)
	for i, r := range key {
		letterOrDigit := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case !letterOrDigit:
			if start >= 0 && sensitiveWords[strings.ToLower(key[start:i])] {
				return true
			}
			start = -1
		case start < 0:
			start = i
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			if sensitiveWords[strings.ToLower(key[start:i])] {
				return true
			}
			start = i
		}
		prev = r
	}
	return start >= 0 && sensitiveWords[strings.ToLower(key[start:])]
}
