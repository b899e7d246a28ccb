package domain

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MaxExpiresIn bounds expires_in: a posting that may wait longer than a
// year is a mistake.
const MaxExpiresIn = 366 * 24 * time.Hour

var expiresInUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseExpiresIn parses the seed's expires_in: a number of seconds ("90"),
// a number and a unit ("120 sec", "2 min", "120s", "1h", "3 days") or a Go
// duration ("1h30m"). It returns an error for anything else, for zero or
// negative values and for more than MaxExpiresIn.
func ParseExpiresIn(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var d time.Duration
	split := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) })
	switch {
	case split < 0:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of seconds", s)
		}
		return checkExpiresIn(time.Duration(min(n, math.MaxInt64/int64(time.Second))) * time.Second)
	case split > 0:
		if unit, ok := expiresInUnits[strings.TrimSpace(s[split:])]; ok {
			n, err := strconv.ParseInt(s[:split], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%q: bad number", s)
			}
			if n > int64(MaxExpiresIn/unit) {
				return 0, fmt.Errorf("%q is longer than %s", s, MaxExpiresIn)
			}
			return checkExpiresIn(time.Duration(n) * unit)
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as \"120 sec\", \"2 min\", \"1h\" or a number of seconds", s)
	}
	return checkExpiresIn(d)
}

// ExpiresInSeconds converts a number of seconds, as a JSON number, to a
// duration with the bounds of ParseExpiresIn.
func ExpiresInSeconds(secs float64) (time.Duration, error) {
	if math.IsNaN(secs) || math.IsInf(secs, 0) {
		return 0, errors.New("not a number of seconds")
	}
	if secs > MaxExpiresIn.Seconds() {
		return 0, fmt.Errorf("%v seconds is longer than %s", secs, MaxExpiresIn)
	}
	return checkExpiresIn(time.Duration(secs * float64(time.Second)))
}

func checkExpiresIn(d time.Duration) (time.Duration, error) {
	switch {
	case d <= 0:
		return 0, errors.New("must be positive")
	case d > MaxExpiresIn:
		return 0, fmt.Errorf("is longer than %s", MaxExpiresIn)
	}
	return d, nil
}
