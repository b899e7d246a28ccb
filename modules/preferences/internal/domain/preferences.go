// Package domain holds the preferences module's rules: which channels and
// notification types a user receives, given the configured defaults, the
// mandatory types and the user's own overrides.
package domain

import (
	"maps"
	"regexp"
	"slices"
	"time"
)

// The channels users can opt in or out of.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	// ChannelInApp is the in-app inbox: its address is the user id, so
	// every recipient has one.
	ChannelInApp = "inapp"
	// ChannelWebhook POSTs the message to a URL: the posting's, else the
	// user's own from the directory.
	ChannelWebhook = "webhook"
)

// knownChannels lists every supported channel, in display order.
var knownChannels = []string{ChannelEmail, ChannelSMS, ChannelInApp, ChannelWebhook}

// KnownChannels returns the supported channels.
func KnownChannels() []string { return slices.Clone(knownChannels) }

// IsKnownChannel reports whether channel is supported.
func IsKnownChannel(channel string) bool { return slices.Contains(knownChannels, channel) }

// Overrides are the choices a user made; a channel or type absent from them
// follows its default.
type Overrides struct {
	Channels map[string]bool
	Types    map[string]bool
	// PerType holds switches of one type on one channel
	// (PerType["new_movies"]["sms"]); one that is absent says nothing: the
	// channel's and the type's switches decide alone.
	PerType map[string]map[string]bool
	// QuietHours is the user's own quiet window, nil for the configured
	// one; Start == End turns quiet hours off for the user.
	QuietHours *QuietHours
}

// QuietHours is a daily window of local time, "HH:MM" to "HH:MM".
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Clone returns a deep copy of o; nil maps stay nil.
func (o Overrides) Clone() Overrides {
	c := Overrides{Channels: maps.Clone(o.Channels), Types: maps.Clone(o.Types)}
	if o.QuietHours != nil {
		q := *o.QuietHours
		c.QuietHours = &q
	}
	if o.PerType != nil {
		c.PerType = make(map[string]map[string]bool, len(o.PerType))
		for t, chans := range o.PerType {
			c.PerType[t] = maps.Clone(chans)
		}
	}
	return c
}

// TypeChannel returns the user's switch of typ on channel, if they set one.
func (o Overrides) TypeChannel(typ, channel string) (on, set bool) {
	on, set = o.PerType[typ][channel]
	return on, set
}

// Compact drops the types of PerType that hold no switch, so that what is
// stored and shown has no empty objects.
func (o *Overrides) Compact() {
	for t, chans := range o.PerType {
		if len(chans) == 0 {
			delete(o.PerType, t)
		}
	}
}

// UserPreferences is what is stored for one user: their overrides and when
// they last replaced them.
type UserPreferences struct {
	UserID    string
	Overrides Overrides
	UpdatedAt time.Time
}

// Clone returns a deep copy of p.
func (p UserPreferences) Clone() UserPreferences {
	p.Overrides = p.Overrides.Clone()
	return p
}

// Contact holds a recipient's addresses, one per channel.
type Contact struct {
	// UserID is the address of the in-app inbox.
	UserID string
	Email  string
	Phone  string
	// WebhookURL is the address of the webhook channel.
	WebhookURL string
}

// Address returns the contact's address on channel, or "" when there is
// none or the channel is unknown.
func (c Contact) Address(channel string) string {
	switch channel {
	case ChannelEmail:
		return c.Email
	case ChannelSMS:
		return c.Phone
	case ChannelInApp:
		return c.UserID
	case ChannelWebhook:
		return c.WebhookURL
	default:
		return ""
	}
}

var (
	typeNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	userIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// ValidTypeName reports whether name is a well-formed notification type:
// a lowercase letter, then up to 63 lowercase letters, digits or underscores.
func ValidTypeName(name string) bool { return typeNamePattern.MatchString(name) }

// ValidUserID reports whether id is a well-formed user id: 1 to 128 of
// A-Z, a-z, 0-9, '_', '.', ':' and '-'.
func ValidUserID(id string) bool { return userIDPattern.MatchString(id) }
