package domain

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// RetryPolicy is when a message is tried again after a failure: Backoff
// after the first try, doubling up to MaxBackoff, with ±20 % jitter, until
// the message's ExpiresAt (MaxAge after it was made), when it is tried one
// last time and given up on.
type RetryPolicy struct {
	Backoff    time.Duration
	MaxBackoff time.Duration
	MaxAge     time.Duration
	// Jitter returns a factor in [0.8, 1.2); nil means a random one.
	Jitter func() float64
}

// Delay returns the wait after the attempts-th failed try (from 1).
func (p RetryPolicy) Delay(attempts int) time.Duration {
	d := p.Backoff
	for i := 1; i < attempts && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	jitter := p.Jitter
	if jitter == nil {
		jitter = func() float64 { return 0.8 + 0.4*rand.Float64() }
	}
	return time.Duration(float64(d) * jitter())
}

// Verdict is what becomes of a message after a try.
type Verdict int

// The verdicts.
const (
	// Delivered: the endpoint took it; the message is done.
	Delivered Verdict = iota
	// Retry: try again at Outcome.NextAttemptAt.
	Retry
	// GiveUp: the message is past its ExpiresAt; it is dropped.
	GiveUp
	// Gone: the endpoint answered 410 Gone; it is disabled at once and
	// the message waits for it to be enabled again.
	Gone
)

// Outcome is the verdict on a try, with what follows from it.
type Outcome struct {
	Verdict       Verdict
	NextAttemptAt time.Time
	// DisableReason, when set, disables the endpoint.
	DisableReason string
}

// Judge returns what becomes of m after a try at now that got status (0:
// no answer) or failed with err. A 2xx is success; 410 Gone disables the
// endpoint at once; anything else is tried again until m expires. A
// message given up on disables its endpoint unless the endpoint took some
// other message since m was made: an endpoint that has taken nothing for
// the whole of MaxAge is dead, one that refuses a single message is not.
func (p RetryPolicy) Judge(m Message, e Endpoint, status int, err error, now time.Time) Outcome {
	switch {
	case err == nil && status >= 200 && status < 300:
		return Outcome{Verdict: Delivered}
	case err == nil && status == http.StatusGone:
		return Outcome{Verdict: Gone, DisableReason: "the endpoint answered 410 Gone"}
	}
	if now.Before(m.ExpiresAt) {
		next := now.Add(p.Delay(m.Attempts))
		if next.After(m.ExpiresAt) {
			next = m.ExpiresAt // one last try at the end
		}
		return Outcome{Verdict: Retry, NextAttemptAt: next}
	}
	o := Outcome{Verdict: GiveUp}
	if e.LastSuccessAt == nil || e.LastSuccessAt.Before(m.CreatedAt) {
		o.DisableReason = fmt.Sprintf("no call succeeded for %s (%d tries of message %s; last: %s)",
			p.MaxAge, m.Attempts, m.WebhookID(), Describe(status, err))
	}
	return o
}

// Describe says what a try got, for a reason: "HTTP 503" or the error.
func Describe(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d", status)
}
