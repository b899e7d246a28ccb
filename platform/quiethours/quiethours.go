// Package quiethours computes quiet hours: a daily window of local time
// ("22:00" to "08:00") in which bulk notifications wait. The window is read
// in the recipient's time zone, so it moves with daylight-saving time: its
// end is 08:00 on the wall clock whatever the offset that day.
package quiethours

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Window is a daily span of local time from Start (inclusive) to End
// (exclusive), in minutes after midnight; End before Start spans midnight.
// The zero Window, and any with Start == End, is empty: never quiet.
type Window struct {
	Start, End int
}

// Parse reads a window from two "HH:MM" times (24-hour clock).
func Parse(start, end string) (Window, error) {
	s, err := parseClock(start)
	if err != nil {
		return Window{}, fmt.Errorf("start: %w", err)
	}
	e, err := parseClock(end)
	if err != nil {
		return Window{}, fmt.Errorf("end: %w", err)
	}
	return Window{Start: s, End: e}, nil
}

// ErrMalformed is returned (wrapped) for a time that is not "HH:MM".
var ErrMalformed = errors.New(`want "HH:MM" from 00:00 to 23:59`)

func parseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q: %w", s, ErrMalformed)
	}
	digit := func(b byte) (int, bool) { return int(b - '0'), b >= '0' && b <= '9' }
	h1, ok1 := digit(s[0])
	h2, ok2 := digit(s[1])
	m1, ok3 := digit(s[3])
	m2, ok4 := digit(s[4])
	h, m := h1*10+h2, m1*10+m2
	if !ok1 || !ok2 || !ok3 || !ok4 || h > 23 || m > 59 {
		return 0, fmt.Errorf("%q: %w", s, ErrMalformed)
	}
	return h*60 + m, nil
}

// ParseClock reads one "HH:MM" time (24-hour clock) as minutes after
// midnight.
func ParseClock(s string) (int, error) { return parseClock(s) }

// Next returns the first instant after now when loc's wall clock reads
// minute (minutes after midnight): today's if still ahead, else
// tomorrow's. A wall time that a daylight-saving jump skips is taken as
// the time.Date normalization of it, just after the jump; one that the
// jump back repeats is its first occurrence.
func Next(minute int, now time.Time, loc *time.Location) time.Time {
	local := now.In(loc)
	y, m, d := local.Date()
	at := time.Date(y, m, d, minute/60, minute%60, 0, 0, loc)
	if !at.After(now) {
		at = time.Date(y, m, d+1, minute/60, minute%60, 0, 0, loc)
	}
	return at
}

// Empty reports whether w is never quiet.
func (w Window) Empty() bool { return w.Start == w.End }

// String returns "HH:MM-HH:MM".
func (w Window) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.Start/60, w.Start%60, w.End/60, w.End%60)
}

// Until reports whether now falls in w on the wall clock of loc and, if
// so, when the window ends: the first instant at or after now when loc's
// clock reads End (a wall time that a daylight-saving jump skips is taken
// as the time.Date normalization of it, just after the jump).
func (w Window) Until(now time.Time, loc *time.Location) (end time.Time, quiet bool) {
	if w.Empty() {
		return time.Time{}, false
	}
	local := now.In(loc)
	minute := local.Hour()*60 + local.Minute()
	var inside bool
	if w.Start < w.End {
		inside = minute >= w.Start && minute < w.End
	} else {
		inside = minute >= w.Start || minute < w.End
	}
	if !inside {
		return time.Time{}, false
	}
	y, m, d := local.Date()
	end = time.Date(y, m, d, w.End/60, w.End%60, 0, 0, loc)
	if !end.After(now) {
		end = time.Date(y, m, d+1, w.End/60, w.End%60, 0, 0, loc)
	}
	return end, true
}

// Zones loads time zones by IANA name once each. It is safe for concurrent
// use.
type Zones struct {
	cache sync.Map // name → *time.Location, or nil for a name that failed
}

// Location returns the zone named name, false for an empty or unknown
// name.
func (z *Zones) Location(name string) (*time.Location, bool) {
	if name == "" {
		return nil, false
	}
	if v, ok := z.cache.Load(name); ok {
		loc, _ := v.(*time.Location)
		return loc, loc != nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		z.cache.Store(name, (*time.Location)(nil))
		return nil, false
	}
	z.cache.Store(name, loc)
	return loc, true
}
