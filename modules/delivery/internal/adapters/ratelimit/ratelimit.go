// Package ratelimit paces the sends of one channel with a token bucket
// (golang.org/x/time/rate): at most the configured number of messages per
// second, both delivery lanes together.
//
// The lanes do not pass it the same way. A bulk send waits for its token
// (Limiter.Wait); a transactional send takes its token at once and never
// waits (Limiter.Priority): a phone code is never held up by a mailing,
// yet it is counted, so the bulk sends after it wait the longer and the
// channel's rate over time stays at the limit. Only the transactional
// sends themselves can briefly go over it, and if they alone ever needed
// more than the limit, the mailings would wait for them, never the reverse.
package ratelimit

import (
	"context"

	"golang.org/x/time/rate"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/clock"
)

// Limiter is the rate limit of one channel, shared by both lanes and safe
// for concurrent use. Its Wait is the bulk lane's app.Limiter; Priority is
// the transactional lane's.
type Limiter struct {
	bucket *rate.Limiter
	clock  clock.Clock
	sleep  app.Sleep
}

var _ app.Limiter = (*Limiter)(nil)

// Option tunes a Limiter.
type Option func(*Limiter)

// WithClock reads the time from clk and waits with sleep (tests use a fake
// clock and a sleep that records the delay).
func WithClock(clk clock.Clock, sleep app.Sleep) Option {
	return func(l *Limiter) { l.clock, l.sleep = clk, sleep }
}

// New returns a Limiter of perSecond messages per second, in a steady
// stream (a burst of one); zero or less means no limit.
func New(perSecond float64, opts ...Option) *Limiter {
	limit := rate.Inf
	if perSecond > 0 {
		limit = rate.Limit(perSecond)
	}
	l := &Limiter{bucket: rate.NewLimiter(limit, 1), clock: clock.System{}, sleep: app.SleepContext}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Wait returns when a send may go out, having taken its token, or ctx's
// error when ctx ends first (the token is then given back).
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := l.clock.Now()
	r := l.bucket.ReserveN(now, 1)
	if err := l.sleep(ctx, r.DelayFrom(now)); err != nil {
		r.CancelAt(l.clock.Now())
		return err
	}
	return nil
}

// Priority returns the transactional lane's view of the limiter: its Wait
// takes a token and returns at once.
func (l *Limiter) Priority() app.Limiter { return priority{l} }

type priority struct{ l *Limiter }

// Wait takes a token without waiting for it: the sends that wait after it
// wait one interval more.
func (p priority) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.l.bucket.ReserveN(p.l.clock.Now(), 1)
	return nil
}
