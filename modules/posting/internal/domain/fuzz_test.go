package domain_test

import (
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
)

// unitModel is what the units of expires_in are worth, for the model of
// FuzzParseExpiresIn.
var unitModel = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// countAndUnit is "<digits>[<unit>]" with ASCII spaces around and between.
var countAndUnit = regexp.MustCompile(`^[\t\n\v\f\r ]*([0-9]+)[\t\n\v\f\r ]*([A-Za-z]*)[\t\n\v\f\r ]*$`)

// FuzzParseExpiresIn checks that an accepted expires_in is positive and at
// most MaxExpiresIn, whatever the input; that case and surrounding spaces
// do not matter; that what it gives reads back the same as a Go duration
// and, when whole, as a number of seconds; and that a count with a unit
// means exactly count×unit (computed without overflow), accepted when in
// bounds. The corpus is the brief's "120 sec" and the forms of the docs.
func FuzzParseExpiresIn(f *testing.F) {
	for _, s := range []string{"120 sec", "2 min", "120s", "1h", "90", " 3 days ", "1h30m", "0", "-5", "366 days", "367 days",
		"31622400", "31622401", "9223372036854775807", "99999999999999999999 sec", "1.5h", "+1s", "1e3s", "٣ sec", "1µs", "8784h0m0.000000001s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := domain.ParseExpiresIn(s)
		if err == nil && (d <= 0 || d > domain.MaxExpiresIn) {
			t.Fatalf("%q accepted as %v, out of (0, %v]", s, d, domain.MaxExpiresIn)
		}

		d2, err2 := domain.ParseExpiresIn(" \t" + asciiUpper(s) + "\r\n")
		if (err == nil) != (err2 == nil) || d != d2 {
			t.Fatalf("%q gives %v, %v but in upper case %v, %v", s, d, err, d2, err2)
		}

		if m := countAndUnit.FindStringSubmatch(s); m != nil {
			unit, known := time.Second, true
			if m[2] != "" {
				unit, known = unitModel[strings.ToLower(m[2])]
			}
			if known {
				n, _ := new(big.Int).SetString(m[1], 10)
				want := n.Mul(n, big.NewInt(int64(unit)))
				inBounds := want.Sign() > 0 && want.Cmp(big.NewInt(int64(domain.MaxExpiresIn))) <= 0
				if inBounds != (err == nil) || inBounds && want.Int64() != int64(d) {
					t.Fatalf("%q: want %v (accepted %v), got %v, %v", s, want, inBounds, d, err)
				}
			}
		}

		if err != nil {
			return
		}
		if back, err := domain.ParseExpiresIn(d.String()); err != nil || back != d {
			t.Fatalf("%q gives %v, which reads back as %v, %v", s, d, back, err)
		}
		if d%time.Second == 0 {
			secs := strconv.FormatInt(int64(d/time.Second), 10)
			for _, form := range []string{secs, secs + " sec", secs + "s"} {
				if back, err := domain.ParseExpiresIn(form); err != nil || back != d {
					t.Fatalf("%q gives %v, but %q reads as %v, %v", s, d, form, back, err)
				}
			}
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// FuzzSingleUser checks the rule that picks the transactional lane: a URL
// it says names one user parses, names the same user once the directory's
// paging is added to it (as the directory adapter does), stops naming one
// user when a second id is asked for, and gets the transactional priority.
// The corpus is the brief's receivers.
func FuzzSingleUser(f *testing.F) {
	for _, s := range []string{
		"http://auth/api/v1/users/?id=6f1c2a57-3a0e-4d7b-9a51-0d3c1e7b2f44",
		"http://auth/api/v1/users/?is_active=True&email_notifications=True&page_number=1&page_size=500",
		"https://auth/api/v1/users/6f1c2a57-3a0e-4d7b-9a51-0d3c1e7b2f44/",
		"http://auth/api/v1/users/?id=a,b", "http://auth/api/v1/users/?id=a&id=b", "http://auth/api/v1/users/?id=",
		"http://auth/api/v1/users/?id=a;b", "http://auth/api/v1/users/?id=%zz&id=a", "http://auth/users/%2F/", "http://auth/users//",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		single := domain.SingleUser(s)
		if lane := domain.DefaultPriority(s); (lane == posting.PriorityTransactional) != single {
			t.Fatalf("%q: single user %v but lane %s", s, single, lane)
		}
		if !single {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("%q names one user but does not parse: %v", s, err)
		}
		q := u.Query()
		q.Set("page_number", "2")
		q.Set("page_size", "500")
		paged := *u
		paged.RawQuery = q.Encode()
		if !domain.SingleUser(paged.String()) {
			t.Fatalf("%q names one user, but not once paged as %q", s, paged.String())
		}
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		byPath := len(segs) >= 2 && segs[len(segs)-2] == "users" && segs[len(segs)-1] != ""
		if !byPath {
			two := *u
			q := u.Query()
			q.Add("id", q.Get("id")+"-other")
			two.RawQuery = q.Encode()
			if domain.SingleUser(two.String()) {
				t.Fatalf("%q still names one user with two ids", two.String())
			}
		}
	})
}
