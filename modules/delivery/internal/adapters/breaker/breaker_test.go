package breaker_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/breaker"
)

// states records the states a breaker reports.
type states struct {
	mu  sync.Mutex
	got []breaker.State
}

func (s *states) add(st breaker.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, st)
}

func (s *states) all() []breaker.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]breaker.State(nil), s.got...)
}

func try(t *testing.T, b *breaker.Breaker, worked bool) error {
	t.Helper()
	done, err := b.Allow()
	if err != nil {
		return err
	}
	done(worked)
	return nil
}

func TestTheCircuitOpensAfterConsecutiveFailuresThenAProbeClosesIt(t *testing.T) {
	t.Parallel()
	seen := &states{}
	const openFor = 30 * time.Millisecond
	b, err := breaker.New("email/primary", breaker.Settings{Failures: 3, OpenFor: openFor}, seen.add)
	require.NoError(t, err)

	require.NoError(t, try(t, b, false))
	require.NoError(t, try(t, b, false))
	require.NoError(t, try(t, b, true), "a success resets the count")
	for range 3 {
		require.NoError(t, try(t, b, false))
	}
	require.Equal(t, breaker.Open, b.State())
	require.ErrorContains(t, try(t, b, true), "breaker email/primary: circuit breaker is open")

	require.Eventually(t, func() bool { return b.State() == breaker.HalfOpen }, 5*time.Second, openFor/3)
	probe, err := b.Allow()
	require.NoError(t, err)
	require.Error(t, try(t, b, true), "one probe at a time")
	probe(true)
	require.Equal(t, breaker.Closed, b.State())
	require.Equal(t, []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen, breaker.Closed}, seen.all())
}

func TestAFailedProbeOpensTheCircuitAgain(t *testing.T) {
	t.Parallel()
	b, err := breaker.New("sms/main", breaker.Settings{Failures: 1, OpenFor: 20 * time.Millisecond}, nil)
	require.NoError(t, err)

	require.NoError(t, try(t, b, false))
	require.Eventually(t, func() bool { return b.State() == breaker.HalfOpen }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, try(t, b, false))
	require.Equal(t, breaker.Open, b.State())
}

func TestBadSettingsAreRefused(t *testing.T) {
	t.Parallel()
	_, err := breaker.New("x", breaker.Settings{Failures: 0, OpenFor: time.Second}, nil)
	require.ErrorContains(t, err, "0 failures, at least 1 needed")
	_, err = breaker.New("x", breaker.Settings{Failures: 1}, nil)
	require.ErrorContains(t, err, "open for 0s, more than 0 needed")
}
