// Package breaker is the circuit breaker of a delivery provider, on
// github.com/sony/gobreaker: it opens after a number of consecutive
// transient failures of the provider, lets one probe through once it has
// been open for a while (half-open), and closes again when the probe
// works.
package breaker

import (
	"fmt"
	"time"

	"github.com/sony/gobreaker"

	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// Settings tunes a Breaker.
type Settings struct {
	// Failures is how many consecutive transient failures open the
	// circuit (at least 1).
	Failures int
	// OpenFor is how long the circuit stays open before a probe is let
	// through (more than 0).
	OpenFor time.Duration
}

// State is the state of a circuit, as the circuit-state gauge shows it.
type State int

// The states.
const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

// Breaker is app.Breaker on a gobreaker.TwoStepCircuitBreaker.
type Breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker
}

var _ app.Breaker = (*Breaker)(nil)

// New returns the breaker of one provider; onState, when not nil, is
// called with the new state at every change (and with Closed at once).
func New(name string, s Settings, onState func(State)) (*Breaker, error) {
	if s.Failures < 1 {
		return nil, fmt.Errorf("new breaker %s: %d failures, at least 1 needed", name, s.Failures)
	}
	if s.OpenFor <= 0 {
		return nil, fmt.Errorf("new breaker %s: open for %v, more than 0 needed", name, s.OpenFor)
	}
	failures := uint32(s.Failures) //nolint:gosec // checked positive above
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: 1, // one probe while half-open
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
	}
	if onState != nil {
		st.OnStateChange = func(_ string, _, to gobreaker.State) { onState(stateOf(to)) }
		onState(Closed)
	}
	return &Breaker{cb: gobreaker.NewTwoStepCircuitBreaker(st)}, nil
}

func stateOf(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return Open
	case gobreaker.StateHalfOpen:
		return HalfOpen
	default:
		return Closed
	}
}

// Allow implements app.Breaker.
func (b *Breaker) Allow() (func(worked bool), error) {
	done, err := b.cb.Allow()
	if err != nil {
		return nil, fmt.Errorf("breaker %s: %w", b.cb.Name(), err)
	}
	return done, nil
}

// State returns the circuit's state now.
func (b *Breaker) State() State { return stateOf(b.cb.State()) }
