package domain

import (
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The sources of a suppression.
const (
	// SourceDelivery: the channel refused the address for good when a
	// delivery was sent to it (an SMTP 5xx to RCPT TO, the SMS gateway's
	// "invalid number").
	SourceDelivery = "delivery"
	// SourceAPI: someone posted it (POST /api/v1/suppressions), such as a
	// provider's bounce or complaint feed.
	SourceAPI = "api"
)

// ReasonSuppressed is the reason of a delivery skipped because its address
// is on the suppression list.
const ReasonSuppressed = "suppressed"

// Limits of a suppression's fields.
const (
	// MaxEmailLength is the longest email address (RFC 5321's path, less
	// its angle brackets).
	MaxEmailLength = 254
	// MaxReasonLength bounds a suppression's reason, in characters.
	MaxReasonLength = 500
)

// Address is an address on one channel, normalized (NormalizeAddress): the
// key of the suppression list.
type Address struct {
	Channel string
	Value   string
}

// Suppression is an address no delivery is sent to any more: a channel
// refused it for good, or someone put it on the list.
type Suppression struct {
	Address
	// Reason says why, in public words: the channel's refusal ("smtp:
	// sending SMTP RCPT TO command: 550 5.1.1"), or what the caller said
	// ("bounce", "complaint", free text).
	Reason string
	// Source is SourceDelivery or SourceAPI.
	Source    string
	CreatedAt time.Time
}

// NormalizeAddress returns the form of an address the suppression list
// compares: an email address trimmed and lowercased (whole: mailbox names
// that differ only by case are one mailbox at every provider that matters),
// a phone number trimmed and without the separators people write in it
// (spaces, '-', '.', '(', ')'); the digits and a leading '+' are kept as
// given, with no country code guessed. Any other channel's address is only
// trimmed.
func NormalizeAddress(channel, raw string) string {
	s := strings.TrimSpace(raw)
	switch channel {
	case ChannelEmail:
		return strings.ToLower(s)
	case ChannelSMS:
		if !strings.ContainsAny(s, " -.()\t") {
			return s
		}
		return strings.Map(func(r rune) rune {
			switch r {
			case ' ', '-', '.', '(', ')', '\t':
				return -1
			}
			return r
		}, s)
	default:
		return s
	}
}

// AddressOf returns the normalized address of raw on channel.
func AddressOf(channel, raw string) Address {
	return Address{Channel: channel, Value: NormalizeAddress(channel, raw)}
}

// AddressError is an address, or its channel, that cannot go on the
// suppression list: Field is "address" or "channel".
type AddressError struct {
	Field   string
	Message string
}

// Error returns "field: message".
func (e *AddressError) Error() string { return e.Field + ": " + e.Message }

// ParseAddress checks an address given by a caller and returns it
// normalized. An empty channel is inferred from the address: email when it
// holds an '@', else sms. An email address must be a bare address
// (local@domain, no display name) of at most MaxEmailLength characters; a
// phone number, once normalized, a '+' (optional) and 3 to 15 digits. It
// returns an *AddressError naming the field otherwise.
func ParseAddress(channel, raw string) (Address, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Address{}, &AddressError{Field: "address", Message: "is required"}
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return Address{}, &AddressError{Field: "address", Message: "holds control characters or invalid UTF-8"}
	}
	inferred := channel == ""
	if inferred {
		channel = ChannelSMS
		if strings.Contains(s, "@") {
			channel = ChannelEmail
		}
	}
	switch channel {
	case ChannelEmail:
		if err := checkEmail(s); err != nil {
			return Address{}, &AddressError{Field: "address", Message: err.Error()}
		}
	case ChannelSMS:
		if !validPhone(NormalizeAddress(ChannelSMS, s)) {
			msg := "is not a phone number (an optional '+' and 3 to 15 digits)"
			if inferred {
				msg = "is neither an email address nor a phone number (an optional '+' and 3 to 15 digits)"
			}
			return Address{}, &AddressError{Field: "address", Message: msg}
		}
	default:
		return Address{}, &AddressError{Field: "channel", Message: "unknown channel " + quote(channel) + " (email, sms)"}
	}
	return AddressOf(channel, s), nil
}

func checkEmail(s string) error {
	if utf8.RuneCountInString(s) > MaxEmailLength {
		return errors.New("email address longer than 254 characters")
	}
	parsed, err := mail.ParseAddress(s)
	if err != nil || parsed.Name != "" || parsed.Address != s {
		return errors.New("is not an email address (local@domain, without a name)")
	}
	return nil
}

func validPhone(s string) bool {
	digits := strings.TrimPrefix(s, "+")
	return len(digits) >= 3 && len(digits) <= 15 &&
		!strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' })
}

// quote quotes s for an error message, cut to 40 characters.
func quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return `"` + s + `"`
}

// ValidSource reports whether source is a known suppression source.
func ValidSource(source string) bool { return source == SourceDelivery || source == SourceAPI }
