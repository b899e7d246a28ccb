package app_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

const postingID = "5f0c6b1e-2d4a-4c1b-9e8f-0a1b2c3d4e5f"

func TestACallIsSignedSoThatTheLibraryVerifiesIt(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, answer(204))
	e := w.register(t, r.srv.URL+"/hooks?token=abc", webhooks.EventDeliverySent)
	w.report(t, postingID, delivery.Outcome{UserID: "u1", Channel: "email", Status: delivery.StatusSent, At: w.clock.Now()})

	require.Equal(t, 1, w.dispatch(t))

	calls := r.got()
	require.Len(t, calls, 1)
	c := calls[0]
	require.NoError(t, verify(t, e.Secret, c, true), "the library's verifier accepts it")
	require.True(t, strings.HasPrefix(c.Header.Get("webhook-signature"), "v1,"))
	require.Regexp(t, `^msg_[0-9a-f]{32}$`, c.ID())
	p := c.payload(t)
	require.Equal(t, "delivery.sent", p["type"])
	require.NotEmpty(t, p["timestamp"])
	require.Equal(t, map[string]any{
		"posting_id": postingID, "user_id": "u1", "channel": "email", "status": "sent",
		"at": w.clock.Now().UTC().Format(time.RFC3339Nano),
	}, p["data"], "no address, ever")

	tampered := c
	tampered.Body = []byte(strings.Replace(string(c.Body), `"u1"`, `"u2"`, 1))
	require.Error(t, verify(t, e.Secret, tampered, true), "the verification is not vacuous")
	other, err := w.create.Handle(context.Background(), app.CreateEndpoint{URL: r.srv.URL, Events: []string{webhooks.EventDeliverySent}})
	require.NoError(t, err)
	require.Error(t, verify(t, other.Secret, c, true), "another endpoint's secret does not verify it")

	require.Zero(t, w.endpoint(t, e.ID).Pending)
	require.NotNil(t, w.endpoint(t, e.ID).LastSuccessAt)
}

func TestAFailedCallIsRetriedWithBackoffUnderTheSameWebhookID(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, func(n int, _ call) int {
		if n < 3 {
			return 503
		}
		return 200
	})
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	w.sent(t, postingID, "u1")
	start := w.clock.Now()

	require.Equal(t, 1, w.dispatch(t), "first try: 503")
	require.Zero(t, w.dispatch(t), "not before its backoff")
	w.clock.Advance(5*time.Second - time.Millisecond)
	require.Zero(t, w.dispatch(t))
	w.clock.Advance(time.Millisecond)
	require.Equal(t, 1, w.dispatch(t), "second try after 5 s: 503")
	w.clock.Advance(10*time.Second - time.Millisecond)
	require.Zero(t, w.dispatch(t), "the backoff doubled")
	w.clock.Advance(time.Millisecond)
	require.Equal(t, 1, w.dispatch(t), "third try after 10 s more: 200")
	w.clock.Advance(time.Hour)
	require.Zero(t, w.dispatch(t), "delivered: never sent again")

	calls := r.got()
	require.Len(t, calls, 3)
	for _, c := range calls {
		require.Equal(t, calls[0].ID(), c.ID(), "the same webhook-id on every try")
		require.Equal(t, string(calls[0].Body), string(c.Body), "the same body")
		require.NoError(t, verify(t, e.Secret, c, false), "each try signed anew")
	}
	require.NotEqual(t, calls[0].Header.Get("webhook-timestamp"), calls[2].Header.Get("webhook-timestamp"), "each try stamped at its time")

	h := w.history(t, e.ID)
	require.Len(t, h, 3)
	require.Equal(t, []string{domain.ResultSuccess, domain.ResultFailure, domain.ResultFailure}, []string{h[0].Result, h[1].Result, h[2].Result})
	require.Equal(t, []int{3, 2, 1}, []int{h[0].Attempt, h[1].Attempt, h[2].Attempt})
	require.Equal(t, 503, h[2].StatusCode)
	require.Equal(t, start.Add(5*time.Second), *h[2].NextAttemptAt)
	require.Equal(t, start.Add(15*time.Second), *h[1].NextAttemptAt)
	require.Nil(t, h[0].NextAttemptAt)
	require.Equal(t, calls[0].ID(), h[0].WebhookID())
	require.Equal(t, map[string]int{domain.ResultFailure: 2, domain.ResultSuccess: 1}, w.metrics.results)
}

// dispatchUntil makes the calls that are due, moving the clock to the next
// due message each time, until done or the clock passed until.
func dispatchUntil(t *testing.T, w *world, until time.Time, done func() bool) {
	t.Helper()
	for !done() && w.clock.Now().Before(until) {
		w.dispatch(t)
		w.clock.Advance(time.Minute)
	}
}

func TestAnEndpointThatTakesNothingForMaxAgeIsDisabled(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, answer(503))
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	w.sent(t, postingID, "u1")
	start := w.clock.Now()

	dispatchUntil(t, w, start.Add(48*time.Hour), func() bool { return !w.endpoint(t, e.ID).Enabled() })

	got := w.endpoint(t, e.ID)
	require.False(t, got.Enabled(), "disabled after max age")
	require.False(t, got.DisabledAt.Before(start.Add(maxAge)), "not before max age")
	require.Contains(t, got.DisabledReason, "no call succeeded for 24h0m0s")
	require.Contains(t, got.DisabledReason, "last: HTTP 503")
	require.Zero(t, got.Pending, "the message was given up on")
	calls := r.got()
	require.Greater(t, len(calls), 25, "retried all day long (hourly at worst)")
	require.Less(t, len(calls), 40)
	h := w.history(t, e.ID)
	require.Len(t, h, len(calls))
	require.Nil(t, h[0].NextAttemptAt, "the last try: given up")

	// A disabled endpoint gets no new events and no calls.
	w.sent(t, postingID, "u2")
	w.clock.Advance(time.Hour)
	require.Zero(t, w.dispatch(t))
	require.Zero(t, w.endpoint(t, e.ID).Pending)
}

func TestAnEndpointThatRefusesOneMessageButTakesOthersStaysEnabled(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, func(_ int, c call) int {
		if strings.Contains(string(c.Body), `"user_id":"poison"`) {
			return 500
		}
		return 204
	})
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	w.sent(t, postingID, "poison")
	start := w.clock.Now()
	dispatchUntil(t, w, start.Add(2*time.Hour), func() bool { return false })
	w.sent(t, postingID, "u1") // taken: the endpoint is alive

	dispatchUntil(t, w, start.Add(48*time.Hour), func() bool { return w.endpoint(t, e.ID).Pending == 0 })

	got := w.endpoint(t, e.ID)
	require.Zero(t, got.Pending, "the refused message was given up on")
	require.True(t, got.Enabled(), "an endpoint that takes other messages is not dead")
}

func TestA410DisablesTheEndpointAtOnceAndEnablingSendsAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var gone atomic.Bool
	gone.Store(true)
	r := newReceiver(t, func(int, call) int {
		if gone.Load() {
			return 410
		}
		return 200
	})
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	w.sent(t, postingID, "u1")

	require.Equal(t, 1, w.dispatch(t))

	got := w.endpoint(t, e.ID)
	require.False(t, got.Enabled())
	require.Equal(t, "the endpoint answered 410 Gone", got.DisabledReason)
	require.Equal(t, 1, got.Pending, "the message waits for the endpoint")
	w.clock.Advance(time.Hour)
	require.Zero(t, w.dispatch(t), "no call to a disabled endpoint")

	gone.Store(false)
	enabled, err := w.enable.Handle(context.Background(), e.ID.String())
	require.NoError(t, err)
	require.True(t, enabled.Enabled())
	require.Equal(t, 1, w.dispatch(t))
	calls := r.got()
	require.Len(t, calls, 2)
	require.Equal(t, calls[0].ID(), calls[1].ID())
	require.Zero(t, w.endpoint(t, e.ID).Pending)
}

func TestDuringARotationCallsCarryBothSignatures(t *testing.T) {
	t.Parallel()
	w := newWorld(t) // rotation grace: 1 h
	r := newReceiver(t, answer(200))
	old := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	rotated, err := w.rotate.Handle(context.Background(), old.ID.String())
	require.NoError(t, err)
	require.NotEqual(t, old.Secret, rotated.Secret)
	require.True(t, strings.HasPrefix(rotated.Secret, "whsec_"))

	w.sent(t, postingID, "u1")
	w.dispatch(t)
	c := r.got()[0]
	require.Len(t, strings.Fields(c.Header.Get("webhook-signature")), 2)
	require.NoError(t, verify(t, rotated.Secret, c, true), "the new secret verifies")
	require.NoError(t, verify(t, old.Secret, c, true), "the old one too, for the grace period")

	w.clock.Advance(time.Hour)
	w.sent(t, postingID, "u2")
	w.dispatch(t)
	c = r.got()[1]
	require.Len(t, strings.Fields(c.Header.Get("webhook-signature")), 1)
	require.NoError(t, verify(t, rotated.Secret, c, false))
	require.Error(t, verify(t, old.Secret, c, false), "after the grace period the old secret signs no more")
}

func TestASlowEndpointHoldsOnlyItsOwnPlaces(t *testing.T) {
	t.Parallel()
	w := newWorldOn(t, newWorld(t).store, func(c *app.DispatcherConfig) { c.Concurrency, c.EndpointConcurrency = 8, 2 })
	release := make(chan struct{})
	var (
		mu       sync.Mutex
		inFlight int
		peak     int
	)
	slow := newReceiver(t, func(int, call) int {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		return 200
	})
	fast := newReceiver(t, answer(200))
	w.register(t, slow.srv.URL, webhooks.EventDeliverySent)
	w.register(t, fast.srv.URL, webhooks.EventDeliverySent)
	for i := range 6 {
		w.sent(t, postingID, "u"+string(rune('a'+i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); w.d.Run(ctx, 5*time.Millisecond) }()

	require.Eventually(t, func() bool { return len(fast.got()) == 6 }, 10*time.Second, 5*time.Millisecond,
		"the fast endpoint gets every message while the slow one hangs")
	mu.Lock()
	require.Equal(t, 2, peak, "the slow endpoint holds its 2 places, no more")
	mu.Unlock()
	close(release)
	require.Eventually(t, func() bool { return len(slow.got()) == 6 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	<-done
}

func TestAStoppedDispatcherLeavesItsCallsToTheLease(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	release := make(chan struct{})
	var n atomic.Int32
	r := newReceiver(t, func(int, call) int {
		if n.Add(1) == 1 {
			<-release // the first call never gets its answer back in time
		}
		return 200
	})
	t.Cleanup(func() { close(release) })
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	w.sent(t, postingID, "u1")
	ctx, cancel := context.WithCancel(context.Background())

	started, err := w.d.Tick(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, started)
	require.Eventually(t, func() bool { return len(r.got()) == 1 }, 5*time.Second, time.Millisecond)
	cancel() // the process stops mid-call
	w.d.Wait()

	require.Empty(t, w.history(t, e.ID), "nothing recorded of a call cut short")
	require.Equal(t, 1, w.endpoint(t, e.ID).Pending)
	require.Zero(t, w.dispatch(t), "leased: not sent again at once")
	w.clock.Advance(w.cfg.Timeout + time.Minute)
	require.Equal(t, 1, w.dispatch(t), "after the lease it is sent again")
	calls := r.got()
	require.Equal(t, calls[0].ID(), calls[1].ID())
	require.Zero(t, w.endpoint(t, e.ID).Pending)
}
