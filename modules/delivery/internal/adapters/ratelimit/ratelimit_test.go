package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/ratelimit"
	"github.com/notifier/notifier/platform/clock"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// waits records the delays a Limiter asks to wait, without waiting: the
// fake clock does not move unless a test moves it.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
	// fail, when set, is returned instead of waiting (ctx ended).
	fail error
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return w.fail
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

func TestBulkSendsAreSpacedByTheRate(t *testing.T) {
	t.Parallel()
	clk, w := clock.NewFake(start), &waits{}
	l := ratelimit.New(10, ratelimit.WithClock(clk, w.sleep))
	ctx := context.Background()

	for range 4 {
		require.NoError(t, l.Wait(ctx))
	}
	require.Equal(t, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}, w.all(),
		"10 a second: one every 100 ms, in a steady stream")

	clk.Advance(time.Second) // the queue has gone out; a token is ready
	require.NoError(t, l.Wait(ctx))
	require.Equal(t, time.Duration(0), w.all()[4])
}

func TestATransactionalSendNeverWaitsButTheMailingPaysForIt(t *testing.T) {
	t.Parallel()
	clk, w := clock.NewFake(start), &waits{}
	l := ratelimit.New(10, ratelimit.WithClock(clk, w.sleep))
	ctx := context.Background()
	require.NoError(t, l.Wait(ctx))
	require.NoError(t, l.Wait(ctx)) // the mailing has used the rate up to +100 ms

	for range 3 {
		require.NoError(t, l.Priority().Wait(ctx), "a code passes at once")
	}
	require.Len(t, w.all(), 2, "the codes asked to wait for nothing")

	require.NoError(t, l.Wait(ctx))
	require.Equal(t, 500*time.Millisecond, w.all()[2],
		"the mailing's next send waits for its own turn and the three codes'")
}

func TestZeroMeansUnlimited(t *testing.T) {
	t.Parallel()
	clk, w := clock.NewFake(start), &waits{}
	l := ratelimit.New(0, ratelimit.WithClock(clk, w.sleep))
	for range 100 {
		require.NoError(t, l.Wait(context.Background()))
	}
	for _, d := range w.all() {
		require.Zero(t, d)
	}
}

func TestAnAbandonedWaitGivesItsTokenBack(t *testing.T) {
	t.Parallel()
	clk, w := clock.NewFake(start), &waits{}
	l := ratelimit.New(10, ratelimit.WithClock(clk, w.sleep))
	ctx := context.Background()
	require.NoError(t, l.Wait(ctx))

	w.fail = context.Canceled
	require.ErrorIs(t, l.Wait(ctx), context.Canceled, "the batch stopped while waiting")
	w.fail = nil
	require.NoError(t, l.Wait(ctx))
	require.Equal(t, []time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond}, w.all(),
		"the next send takes the abandoned turn")

	ended, cancel := context.WithCancel(ctx)
	cancel()
	require.True(t, errors.Is(l.Wait(ended), context.Canceled))
	require.True(t, errors.Is(l.Priority().Wait(ended), context.Canceled))
	require.Len(t, w.all(), 3, "an ended context takes no token")
}

func TestTheRealClockWaitsAndStopsWithTheContext(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(0.001) // one send in 1000 s
	require.NoError(t, l.Wait(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the wait did not end with its context")
	}
}
