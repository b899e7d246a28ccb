package app

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds the retries of transient failures.
type RetryPolicy struct {
	// MaxAttempts is how many sends a delivery gets in all (at least 1).
	MaxAttempts int
	// Backoff is the delay after the first failure; it doubles after each.
	Backoff time.Duration
	// MaxBackoff caps the delay; zero means no cap.
	MaxBackoff time.Duration
	// MaxWaiting bounds the rows of one batch waiting for their next try:
	// a new row starts only while fewer rows than this are started and not
	// final (being sent or waiting), so a channel that is down is not tried
	// with every row of the batch. It also caps the batch's sends in flight:
	// keep it at least the lane's workers. Zero means DefaultMaxWaiting.
	MaxWaiting int
}

// DefaultMaxWaiting is RetryPolicy.MaxWaiting when it is zero.
const DefaultMaxWaiting = 100

// maxWaiting returns MaxWaiting or its default.
func (p RetryPolicy) maxWaiting() int {
	if p.MaxWaiting > 0 {
		return p.MaxWaiting
	}
	return DefaultMaxWaiting
}

// delay returns the delay after the attempt-th failed attempt, before
// jitter: Backoff·2^(attempt-1), capped by MaxBackoff.
func (p RetryPolicy) delay(attempt int) time.Duration {
	d := p.Backoff
	for i := 1; i < attempt && d > 0; i++ {
		if p.MaxBackoff > 0 && d >= p.MaxBackoff {
			break
		}
		d *= 2
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d
}

// Sleep waits d or until ctx ends, returning ctx's error then.
type Sleep func(ctx context.Context, d time.Duration) error

// Jitter spreads a delay so that failures at the same moment do not retry
// at the same moment.
type Jitter func(d time.Duration) time.Duration

// SleepContext is the real Sleep: it waits d or until ctx ends.
func SleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// equalJitter keeps half of d and draws the other half at random.
func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
