package domain

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/notifier/notifier/modules/preferences"
	"github.com/notifier/notifier/platform/quiethours"
)

// Defaults are the configured starting point of every user.
type Defaults struct {
	// Channels maps a channel to whether it is on by default; a supported
	// channel not listed is on.
	Channels map[string]bool
	// Types maps a notification type to whether it is on by default.
	Types map[string]bool
	// DefaultTypeEnabled applies to the types not listed in Types (such as
	// managers' categories).
	DefaultTypeEnabled bool
	// Mandatory types are delivered whatever the user opted out of, as long
	// as there is an address.
	Mandatory []string
	// QuietHours is the window bulk deliveries wait out, for users who set
	// none of their own; the zero value is off.
	QuietHours QuietHours
	// DefaultTimezone is the zone of users whose own is missing or unknown.
	DefaultTimezone string
}

// Policy decides, from the defaults and a user's overrides, what the user
// receives. It is immutable and safe for concurrent use.
type Policy struct {
	channels           map[string]bool
	types              map[string]bool
	defaultTypeEnabled bool
	mandatory          []string
	quiet              *QuietHours
	defaultZone        string
	zones              *quiethours.Zones
}

// NewPolicy returns the policy of d. It fails, naming the setting, if d
// lists an unsupported channel or a malformed type name.
func NewPolicy(d Defaults) (*Policy, error) {
	var errs []error
	for _, ch := range slices.Sorted(maps.Keys(d.Channels)) {
		if !IsKnownChannel(ch) {
			errs = append(errs, fmt.Errorf("preferences.channels: unknown channel %q (supported: %s)", ch, strings.Join(knownChannels, ", ")))
		}
	}
	for _, t := range slices.Sorted(maps.Keys(d.Types)) {
		if !ValidTypeName(t) {
			errs = append(errs, fmt.Errorf("preferences.types: malformed notification type %q", t))
		}
	}
	for _, t := range d.Mandatory {
		if !ValidTypeName(t) {
			errs = append(errs, fmt.Errorf("preferences.mandatory: malformed notification type %q", t))
		}
	}
	if q := d.QuietHours; q.Start != "" || q.End != "" {
		if _, err := quiethours.Parse(q.Start, q.End); err != nil {
			errs = append(errs, fmt.Errorf("preferences.quiet_hours: %w", err))
		}
	}
	zones := &quiethours.Zones{}
	zone := d.DefaultTimezone
	if zone == "" {
		zone = "UTC"
	}
	if _, ok := zones.Location(zone); !ok {
		errs = append(errs, fmt.Errorf("preferences.default_timezone: %q is not an IANA time zone", zone))
	}
	// Each error names its key: no prefix, so that each stays one line of
	// the configuration's problems.
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	mandatory := slices.Clone(d.Mandatory)
	slices.Sort(mandatory)
	var quiet *QuietHours
	if d.QuietHours.Start != "" {
		q := d.QuietHours
		quiet = &q
	}
	return &Policy{
		channels:           maps.Clone(d.Channels),
		types:              maps.Clone(d.Types),
		defaultTypeEnabled: d.DefaultTypeEnabled,
		mandatory:          slices.Compact(mandatory),
		quiet:              quiet,
		defaultZone:        zone,
		zones:              zones,
	}, nil
}

// Mandatory reports whether typ ignores opt-outs.
func (p *Policy) Mandatory(typ string) bool {
	_, found := slices.BinarySearch(p.mandatory, typ)
	return found
}

// MandatoryTypes returns the mandatory types, sorted.
func (p *Policy) MandatoryTypes() []string { return slices.Clone(p.mandatory) }

// ChannelEnabled reports whether the user with overrides o receives
// non-mandatory notifications on channel: the override, else the default.
// An unsupported channel is never enabled.
func (p *Policy) ChannelEnabled(o Overrides, channel string) bool {
	on, _ := p.channel(o, channel)
	return on
}

// channel is ChannelEnabled, and whether the user's own switch decided it.
func (p *Policy) channel(o Overrides, channel string) (on, byUser bool) {
	if !IsKnownChannel(channel) {
		return false, false
	}
	if on, ok := o.Channels[channel]; ok {
		return on, true
	}
	if on, ok := p.channels[channel]; ok {
		return on, false
	}
	return true, false
}

// TypeEnabled reports whether the user with overrides o receives
// notifications of type typ: always for a mandatory type, else the
// override, else the configured default, else DefaultTypeEnabled.
func (p *Policy) TypeEnabled(o Overrides, typ string) bool {
	if p.Mandatory(typ) {
		return true
	}
	on, _ := p.typ(o, typ)
	return on
}

// typ is TypeEnabled for a type that is not mandatory, and whether the
// user's own switch decided it.
func (p *Policy) typ(o Overrides, typ string) (on, byUser bool) {
	if on, ok := o.Types[typ]; ok {
		return on, true
	}
	if on, ok := p.types[typ]; ok {
		return on, false
	}
	return p.defaultTypeEnabled, false
}

// Decide says whether a notification of type typ goes to a user with
// overrides o and contact c on channel. It returns "" to deliver, else the
// skip reason: preferences.OptedOut naming the first switch that is off
// (the channel's, the type's, then that type's on that channel), or
// another preferences.Reason*. A delivery goes out when all three are on
// (the third only when the user set it); a mandatory type ignores every
// switch but, like every type, needs an address.
func (p *Policy) Decide(o Overrides, typ, channel string, c Contact) string {
	if !IsKnownChannel(channel) {
		return preferences.ReasonUnknownChan
	}
	if !p.Mandatory(typ) {
		if on, byUser := p.channel(o, channel); !on {
			return preferences.OptedOut("channels."+channel, byUser)
		}
		if on, byUser := p.typ(o, typ); !on {
			return preferences.OptedOut("types."+typ, byUser)
		}
		if on, set := o.TypeChannel(typ, channel); set && !on {
			return preferences.OptedOut("per_type."+typ+"."+channel, true)
		}
	}
	if c.Address(channel) == "" {
		return preferences.ReasonNoAddress
	}
	return ""
}

// QuietHours returns the quiet window a bulk notification of type typ to a
// user with overrides o and directory time zone timezone waits out, and the
// zone to read it in (timezone when it is a known IANA zone, else the
// configured default). ok is false when nothing waits: a mandatory type,
// or no window (none configured and none of the user's, or the user's
// empty one). Transactional postings are the caller's to leave out.
func (p *Policy) QuietHours(o Overrides, typ, timezone string) (q QuietHours, zone string, ok bool) {
	if p.Mandatory(typ) {
		return QuietHours{}, "", false
	}
	w := p.quiet
	if o.QuietHours != nil {
		w = o.QuietHours
	}
	if w == nil || w.Start == w.End {
		return QuietHours{}, "", false
	}
	zone = p.defaultZone
	if _, known := p.zones.Location(timezone); known {
		zone = timezone
	}
	return *w, zone, true
}

// EffectiveQuietHours returns the window that applies to a user with
// overrides o: theirs, else the configured one; nil when there is none.
func (p *Policy) EffectiveQuietHours(o Overrides) *QuietHours {
	w := p.quiet
	if o.QuietHours != nil {
		w = o.QuietHours
	}
	if w == nil {
		return nil
	}
	q := *w
	return &q
}

// View is a user's effective preferences, as shown to them.
type View struct {
	UserID string
	// Channels holds every supported channel.
	Channels map[string]bool
	// Types holds every configured and mandatory type, and every type the
	// user overrode.
	Types map[string]bool
	// PerType holds the user's own switches of a type on a channel, as
	// they set them (none is implied by the others).
	PerType map[string]map[string]bool
	// QuietHours is the window that applies: the user's, else the
	// configured one; nil when there is none.
	QuietHours *QuietHours
	Mandatory  []string
	// UpdatedAt is when the user last replaced their overrides; zero if
	// they never did.
	UpdatedAt time.Time
}

// View returns the effective preferences of a user; prefs is what is stored
// for them (zero, apart from UserID, if nothing is).
func (p *Policy) View(prefs UserPreferences) View {
	v := View{
		UserID:     prefs.UserID,
		Channels:   make(map[string]bool, len(knownChannels)),
		Types:      make(map[string]bool, len(p.types)+len(p.mandatory)+len(prefs.Overrides.Types)),
		PerType:    prefs.Overrides.Clone().PerType,
		QuietHours: p.EffectiveQuietHours(prefs.Overrides),
		Mandatory:  p.MandatoryTypes(),
		UpdatedAt:  prefs.UpdatedAt,
	}
	if v.PerType == nil {
		v.PerType = map[string]map[string]bool{}
	}
	for _, ch := range knownChannels {
		v.Channels[ch] = p.ChannelEnabled(prefs.Overrides, ch)
	}
	for _, t := range slices.Concat(slices.Collect(maps.Keys(p.types)), p.mandatory, slices.Collect(maps.Keys(prefs.Overrides.Types)), slices.Collect(maps.Keys(prefs.Overrides.PerType))) {
		v.Types[t] = p.TypeEnabled(prefs.Overrides, t)
	}
	return v
}
