package upstream

import (
	"testing"
	"time"
)

func TestDelayDoublesWithJitterAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	c := &Client{backoff: 200 * time.Millisecond}
	for range 200 {
		for attempt, base := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond, 3: 800 * time.Millisecond} {
			if d := c.delay(attempt, 0); d < base/2 || d >= base*3/2 {
				t.Fatalf("delay(%d) = %v, want within [%v, %v)", attempt, d, base/2, base*3/2)
			}
		}
		if d := c.delay(1, 2*time.Second); d != 2*time.Second {
			t.Fatalf("delay with Retry-After 2s = %v", d)
		}
		if d := c.delay(40, 0); d > maxDelay {
			t.Fatalf("delay(40) = %v, over the cap", d)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 1 ":                           time.Second,
		"-1":                            0,
		"3600":                          maxDelay,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0,
	} {
		if got := parseRetryAfter(h); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}
