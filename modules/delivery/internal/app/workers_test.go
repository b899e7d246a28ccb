package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/ratelimit"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/messaging"
)

// gate is a sender whose sends wait to be let through one by one (or all,
// once opened), or return ctx's error when ctx ends first. It records what
// went through and the most sends it ever had in flight.
type gate struct {
	release chan struct{}
	openCh  chan struct{}
	once    sync.Once

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	sent        []app.Message
}

func newGate() *gate { return &gate{release: make(chan struct{}), openCh: make(chan struct{})} }

func (g *gate) Send(ctx context.Context, m app.Message) error {
	g.mu.Lock()
	g.inFlight++
	g.maxInFlight = max(g.maxInFlight, g.inFlight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	select {
	case <-g.release:
	case <-g.openCh:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.sent = append(g.sent, m)
	g.mu.Unlock()
	return nil
}

// open lets every send through from now on.
func (g *gate) open() { g.once.Do(func() { close(g.openCh) }) }

func (g *gate) state() (inFlight, maxInFlight int, sent []app.Message) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight, g.maxInFlight, append([]app.Message(nil), g.sent...)
}

func (g *gate) waitInFlight(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { in, _, _ := g.state(); return in == n }, 10*time.Second, time.Millisecond,
		"%d sends in flight", n)
}

// concurrentPolicy lets as many rows as the workers take be in progress.
var concurrentPolicy = app.RetryPolicy{MaxAttempts: 4, Backoff: time.Second, MaxBackoff: 30 * time.Second, MaxWaiting: 100}

// perRecipient counts the messages sent to each address.
func perRecipient(msgs []app.Message) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[m.To]++
	}
	return out
}

// users returns n recipients u01, u02, …
func users(n int) []delivery.Recipient {
	out := make([]delivery.Recipient, n)
	for i := range out {
		id := fmt.Sprintf("u%02d", i+1)
		out[i] = recipient(id, "Имя "+id)
	}
	return out
}

// handlerOn returns a handler of h's store, events and clock on workers.
func handlerOn(t *testing.T, h *harness, workers *app.Workers, opts ...app.DeliverBatchOption) *app.DeliverBatchHandler {
	t.Helper()
	handler, err := app.NewDeliverBatchHandler(h.store, renderer(t), workers, h.events, h.clock, h.policy, discard(), opts...)
	require.NoError(t, err)
	return handler
}

// handleAsync runs handler.Handle(ctx, batch) on a goroutine; the channel
// gets its result.
func handleAsync(handler *app.DeliverBatchHandler, ctx context.Context, batch delivery.DeliverBatch) <-chan error {
	done := make(chan error, 1)
	go func() { done <- handler.Handle(ctx, batch) }()
	return done
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the batch did not finish")
		return nil
	}
}

func TestWorkersDeliverABatchConcurrentlyWithAtMostOneSendPerWorkerInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	email := newGate()
	workers := startWorkers(t, 3, func() (app.Senders, error) { return app.Senders{"email": email}, nil })
	handler := handlerOn(t, h, workers)
	t.Cleanup(email.open)

	done := handleAsync(handler, context.Background(), emailBatch("p1", users(10)...))
	for left := 10; left > 0; left-- {
		email.waitInFlight(t, min(3, left)) // every worker busy, as long as rows are left
		email.release <- struct{}{}
	}
	require.NoError(t, result(t, done))

	_, maxInFlight, sent := email.state()
	require.Equal(t, 3, maxInFlight, "three workers, three sends at once, never more")
	require.Len(t, perRecipient(sent), 10)
	require.Len(t, h.outcomes(), 10)
}

// counted is a sender made by a counting factory: it fails the test when
// two sends use it at once (a connection is one worker's) and counts its
// sends and closes.
type counted struct {
	mu            sync.Mutex
	busy          bool
	sends, closes int
	overlapped    bool
}

func (c *counted) Send(context.Context, app.Message) error {
	c.mu.Lock()
	if c.busy {
		c.overlapped = true
	}
	c.busy = true
	c.sends++
	c.mu.Unlock()
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
	return nil
}

func (c *counted) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closes++
	return nil
}

func TestEachWorkerKeepsItsOwnSendersFromBatchToBatchAndClosesThemAtStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	var made []*counted
	workers, err := app.NewWorkers(4, func() (app.Senders, error) {
		c := &counted{}
		made = append(made, c)
		return app.Senders{"email": c}, nil
	}, discard())
	require.NoError(t, err)
	workers.Start()
	handler := handlerOn(t, h, workers)

	for b := range 3 {
		require.NoError(t, handler.Handle(context.Background(), emailBatch(fmt.Sprintf("p%d", b), users(20)...)))
	}
	require.Len(t, made, 4, "one set of senders per worker, made once, whatever the number of batches")
	sends := 0
	for _, c := range made {
		c.mu.Lock()
		sends += c.sends
		require.False(t, c.overlapped, "a sender is used by its worker only")
		require.Zero(t, c.closes, "kept open between batches")
		c.mu.Unlock()
	}
	require.Equal(t, 60, sends)

	require.NoError(t, workers.Stop(context.Background()))
	for _, c := range made {
		require.Equal(t, 1, c.closes, "closed once, at stop")
	}
}

func TestWorkersShareFewerConnectionsEachHeldByOneSendAtATime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	var made []*counted
	workers, err := app.NewWorkers(6, func() (app.Senders, error) {
		c := &counted{}
		made = append(made, c)
		return app.Senders{"email": c}, nil
	}, discard(), app.WithConnections(2))
	require.NoError(t, err)
	require.Equal(t, 6, workers.Size())
	require.Equal(t, 2, workers.Connections())
	workers.Start()
	handler := handlerOn(t, h, workers)

	require.NoError(t, handler.Handle(context.Background(), emailBatch("p1", users(40)...)))
	require.Len(t, made, 2, "two connections for six workers")
	sends := 0
	for _, c := range made {
		c.mu.Lock()
		sends += c.sends
		require.False(t, c.overlapped, "a connection carries one send at a time")
		c.mu.Unlock()
	}
	require.Equal(t, 40, sends)
	require.NoError(t, workers.Stop(context.Background()))
	for _, c := range made {
		require.Equal(t, 1, c.closes, "closed once, at stop")
	}

	_, err = app.NewWorkers(2, func() (app.Senders, error) { return app.Senders{"email": &counted{}}, nil }, discard(), app.WithConnections(3))
	require.ErrorContains(t, err, "3 connections for 2 workers")
	_, err = app.NewWorkers(2, func() (app.Senders, error) { return app.Senders{"email": &counted{}}, nil }, discard(), app.WithConnections(0))
	require.Error(t, err)
}

func TestARowWaitingForItsRetryDoesNotHoldAWorker(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy) // one worker
	h.email.script = []error{errBusy}
	wake := make(chan struct{})
	handler := mustHandlerWithSleep(t, h, func(ctx context.Context, d time.Duration) error {
		select {
		case <-wake:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})

	done := handleAsync(handler, context.Background(), emailBatch("p1", users(3)...))
	require.Eventually(t, func() bool { return len(h.email.messages()) == 2 }, 10*time.Second, time.Millisecond,
		"the worker sends the other rows while the first waits for its retry")
	close(wake)
	require.NoError(t, result(t, done))
	msgs := h.email.messages()
	require.Equal(t, []string{"u02@example.com", "u03@example.com", "u01@example.com"}, []string{msgs[0].To, msgs[1].To, msgs[2].To})
	require.Equal(t, 2, h.rows(t, "p1")["u01/email"].Attempts)
}

func TestRowsWaitingForTheirRetryAreBoundedAndGoFirst(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.RetryPolicy{MaxAttempts: 3, Backoff: time.Second, MaxWaiting: 2}) // one worker
	var (
		mu    sync.Mutex
		tries []string
		seen  = map[string]bool{}
	)
	h.email.fail = func(m app.Message) error {
		mu.Lock()
		defer mu.Unlock()
		tries = append(tries, m.UserID)
		if !seen[m.UserID] { // every first try fails
			seen[m.UserID] = true
			return errBusy
		}
		return nil
	}
	sleepers := make(chan chan struct{}, 10)
	h.handler = mustHandlerWithSleep(t, h, func(ctx context.Context, d time.Duration) error {
		wake := make(chan struct{})
		sleepers <- wake
		select {
		case <-wake:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	nextSleeper := func() chan struct{} {
		select {
		case s := <-sleepers:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no row started waiting")
			return nil
		}
	}

	waitTries := func(n int) {
		require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(tries) == n }, 10*time.Second, time.Millisecond)
	}

	done := handleAsync(h.handler, context.Background(), emailBatch("p1", users(4)...))
	waitTries(2) // u01 and u02 failed and wait: no third row starts
	for _, after := range []int{4, 6, 7, 8} {
		close(nextSleeper()) // one of the waiting rows is due
		waitTries(after)
	}
	require.NoError(t, result(t, done))

	mu.Lock()
	defer mu.Unlock()
	// F: a row's first try, R: a retry. Two rows wait at most, and the row
	// that is due goes before a new one.
	shape, tried := "", map[string]bool{}
	for _, u := range tries {
		if tried[u] {
			shape += "R"
		} else {
			shape += "F"
		}
		tried[u] = true
	}
	require.Equal(t, "FFRFRFRR", shape, "tries %v", tries)
	require.Len(t, perRecipient(h.email.messages()), 4)
}

// limiter is a controllable rate limit: each Wait takes a token the test
// grants, and may run a hook first.
type limiter struct {
	tokens chan struct{}
	mu     sync.Mutex
	waits  int
	before func()
}

func (l *limiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	l.waits++
	before := l.before
	l.mu.Unlock()
	if before != nil {
		before()
	}
	select {
	case <-l.tokens:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *limiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waits
}

func TestEachSendWaitsForItsChannelsRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	email := newGate()
	email.open()
	workers := startWorkers(t, 3, func() (app.Senders, error) { return app.Senders{"email": email, "sms": h.sms}, nil })
	emailLimit := &limiter{tokens: make(chan struct{})}
	handler := handlerOn(t, h, workers, app.WithLimiters(app.Limiters{"email": emailLimit}))

	batch := emailBatch("p1", users(5)...)
	batch.Items = append([]delivery.Item{{Channel: "sms", Recipient: recipient("u99", "Смс")}}, batch.Items...)
	done := handleAsync(handler, context.Background(), batch)

	require.Eventually(t, func() bool { return len(h.sms.messages()) == 1 }, 10*time.Second, time.Millisecond,
		"a channel without a limit is not held")
	for n := 1; n <= 5; n++ {
		require.Eventually(t, func() bool { return emailLimit.count() == min(n+2, 5) }, 10*time.Second, time.Millisecond,
			"every free worker waits for a token")
		_, _, sent := email.state()
		require.Len(t, sent, n-1, "no email without a token")
		emailLimit.tokens <- struct{}{}
		require.Eventually(t, func() bool { _, _, sent := email.state(); return len(sent) == n }, 10*time.Second, time.Millisecond)
	}
	require.NoError(t, result(t, done))
	require.Equal(t, 5, emailLimit.count(), "one token per email")
}

func TestARowThatExpiresWhileWaitingForTheRateLimitIsNotSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	limit := &limiter{tokens: make(chan struct{}, 1)}
	limit.tokens <- struct{}{}
	limit.before = func() { h.clock.Advance(3 * time.Minute) } // a long wait for the token
	handler := mustHandlerWithSleep(t, h, nil, app.WithLimiters(app.Limiters{"email": limit}))
	batch := emailBatch("p1", recipient("u1", "Анна"))
	expires := start.Add(2 * time.Minute)
	batch.ExpiresAt = &expires

	require.NoError(t, handler.Handle(context.Background(), batch))
	require.Zero(t, h.email.tries())
	require.Equal(t, []string{"u1/email=expired"}, h.outcomes())
	require.Equal(t, "expired before sending", h.rows(t, "p1")["u1/email"].Error)
}

func TestACodeIsDeliveredWhileTheBulkLaneIsSaturated(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	// Both lanes share the channels' rate limits: 1 email a second, on a
	// clock that never moves, so a bulk send after the first waits for good.
	limitSleep := func(ctx context.Context, d time.Duration) error {
		if d <= 0 {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}
	emailLimit := ratelimit.New(1, ratelimit.WithClock(h.clock, limitSleep))

	bulkEmail := newGate() // a slow SMTP server: every bulk send hangs
	bulkWorkers := startWorkers(t, 2, func() (app.Senders, error) { return app.Senders{"email": bulkEmail, "sms": h.sms}, nil })
	bulk := handlerOn(t, h, bulkWorkers, app.WithLimiters(app.Limiters{"email": emailLimit}), app.WithDrainGrace(0))
	codeEmail := &sender{}
	codeWorkers := startWorkers(t, 1, func() (app.Senders, error) { return app.Senders{"email": codeEmail, "sms": h.sms}, nil })
	transactional := handlerOn(t, h, codeWorkers, app.WithLimiters(app.Limiters{"email": emailLimit.Priority()}), app.WithDrainGrace(0))

	ctx, stop := context.WithCancel(context.Background())
	mailing := handleAsync(bulk, ctx, emailBatch("mailing", users(50)...))
	bulkEmail.waitInFlight(t, 1) // one worker hangs in a send, the other waits for the rate limit
	t.Cleanup(func() {
		bulkEmail.open()
		stop()
		<-mailing
	})

	code := emailBatch("code", recipient("u1", "Анна"))
	code.Lane = delivery.LaneTransactional
	expires := start.Add(2 * time.Minute)
	code.ExpiresAt = &expires
	codeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, transactional.Handle(codeCtx, code))

	require.Len(t, codeEmail.messages(), 1, "the code went out at once")
	require.Contains(t, h.outcomes(), "u1/email=sent")
	_, _, sent := bulkEmail.state()
	require.Empty(t, sent, "the mailing is still stuck")
}

func TestARedeliveredBatchSendsNothingTwiceAfterAnInterruptionWithSendsInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	email := newGate()
	workers := startWorkers(t, 4, func() (app.Senders, error) { return app.Senders{"email": email}, nil })
	// No drain: the interrupted batch stops at once.
	handler := handlerOn(t, h, workers, app.WithDrainGrace(0))
	batch := emailBatch("p1", users(20)...)

	ctx, interrupt := context.WithCancel(context.Background())
	done := handleAsync(handler, ctx, batch)
	for range 8 {
		email.waitInFlight(t, 4)
		email.release <- struct{}{}
	}
	email.waitInFlight(t, 4)
	interrupt() // four sends in flight, cut off: whether they went out is unknown
	require.ErrorIs(t, result(t, done), context.Canceled, "the batch is redelivered")
	_, _, sent := email.state()
	require.Len(t, sent, 8)
	require.Len(t, h.outcomes(), 8, "what was sent is reported")

	email.open()
	require.NoError(t, handler.Handle(context.Background(), batch), "the redelivered batch")
	require.NoError(t, handler.Handle(context.Background(), batch), "and once more")

	_, maxInFlight, sent := email.state()
	require.Equal(t, 4, maxInFlight)
	count := perRecipient(sent)
	require.Len(t, count, 20)
	for to, n := range count {
		require.Equal(t, 1, n, "%s got %d messages", to, n)
	}
	require.Len(t, h.outcomes(), 20, "each row reported once")
}

func TestStoppedWorkersLeaveTheRestOfTheBatchPendingForItsRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	email := newGate()
	workers, err := app.NewWorkers(1, func() (app.Senders, error) { return app.Senders{"email": email}, nil }, discard())
	require.NoError(t, err)
	workers.Start()
	handler := handlerOn(t, h, workers)

	done := handleAsync(handler, context.Background(), emailBatch("p1", users(3)...))
	email.waitInFlight(t, 1)
	// Ask the workers to stop without waiting for them, then let the send
	// in flight finish.
	asked, ask := context.WithCancel(context.Background())
	ask()
	require.ErrorIs(t, workers.Stop(asked), context.Canceled, "a worker is still busy")
	email.release <- struct{}{}

	err = result(t, done)
	require.ErrorIs(t, err, app.ErrWorkersStopped)
	require.False(t, messaging.IsPermanent(err))
	require.NoError(t, workers.Stop(context.Background()))
	rows := h.rows(t, "p1")
	require.Equal(t, delivery.StatusSent, rows["u01/email"].Status)
	require.Equal(t, delivery.StatusPending, rows["u02/email"].Status)
	require.Equal(t, delivery.StatusPending, rows["u03/email"].Status)
	require.Equal(t, []string{"u01/email=sent"}, h.outcomes())

	err = handler.Handle(context.Background(), emailBatch("p1", users(3)...))
	require.ErrorIs(t, err, app.ErrWorkersStopped, "stopped workers take no batch")
}

func TestNewWorkersRejectsBadSendersAndClosesWhatItMade(t *testing.T) {
	t.Parallel()
	_, err := app.NewWorkers(0, func() (app.Senders, error) { return app.Senders{"email": &sender{}}, nil }, discard())
	require.Error(t, err, "no worker")
	_, err = app.NewWorkers(1, nil, discard())
	require.Error(t, err, "no senders")
	_, err = app.NewWorkers(1, func() (app.Senders, error) { return app.Senders{}, nil }, discard())
	require.Error(t, err, "empty senders")
	_, err = app.NewWorkers(1, func() (app.Senders, error) { return app.Senders{"email": nil}, nil }, discard())
	require.Error(t, err, "nil sender")

	var made []*counted
	calls := 0
	_, err = app.NewWorkers(3, func() (app.Senders, error) {
		calls++
		if calls == 3 {
			return nil, errors.New("smtp: bad config")
		}
		c := &counted{}
		made = append(made, c)
		return app.Senders{"email": c}, nil
	}, discard())
	require.ErrorContains(t, err, "bad config")
	require.Len(t, made, 2)
	for _, c := range made {
		require.Equal(t, 1, c.closes, "the senders made before the failure are closed")
	}

	calls = 0
	_, err = app.NewWorkers(2, func() (app.Senders, error) {
		calls++
		if calls == 2 {
			return app.Senders{"sms": &sender{}}, nil
		}
		return app.Senders{"email": &sender{}}, nil
	}, discard())
	require.ErrorContains(t, err, "differ", "every worker has the same channels")
}

func TestWorkersStoppedBeforeStartingCloseTheirSendersAndTakeNoBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	c := &counted{}
	workers, err := app.NewWorkers(1, func() (app.Senders, error) { return app.Senders{"email": c}, nil }, discard())
	require.NoError(t, err)
	handler := handlerOn(t, h, workers)

	err = handler.Handle(context.Background(), emailBatch("p1", users(1)...))
	require.ErrorIs(t, err, app.ErrWorkersStopped, "not started yet")
	require.Empty(t, h.rows(t, "p1"), "nothing recorded")

	require.NoError(t, workers.Stop(context.Background()))
	require.Equal(t, 1, c.closes)
	workers.Start() // too late: does nothing
	require.ErrorIs(t, handler.Handle(context.Background(), emailBatch("p1", users(1)...)), app.ErrWorkersStopped)
}

// preparing is a Preparer over a gate: Prepare counts the messages built,
// SendPrepared goes through the gate, and every prepared message must be
// released once.
type preparing struct {
	*gate
	mu                  sync.Mutex
	prepared, released  int
	preparedOutsideSend bool
}

type preparedMsg struct {
	p   *preparing
	msg app.Message
}

func (m *preparedMsg) Release() {
	m.p.mu.Lock()
	m.p.released++
	m.p.mu.Unlock()
}

func (p *preparing) Prepare(msg app.Message) (app.Prepared, error) {
	if msg.To == "bad" {
		return nil, errors.New("cannot build")
	}
	p.mu.Lock()
	p.prepared++
	p.mu.Unlock()
	return &preparedMsg{p: p, msg: msg}, nil
}

func (p *preparing) SendPrepared(ctx context.Context, pm app.Prepared) error {
	return p.gate.Send(ctx, pm.(*preparedMsg).msg)
}

func (p *preparing) counts() (prepared, released int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prepared, p.released
}

// Workers sharing connections build each message before they take one: a
// worker whose message is ready waits for the connection, it does not hold
// it while it builds.
func TestWorkersSharingConnectionsBuildTheirMessagesBeforeTakingOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	g := newGate()
	sender := &preparing{gate: g}
	workers, err := app.NewWorkers(4, func() (app.Senders, error) {
		return app.Senders{"email": sender}, nil
	}, discard(), app.WithConnections(1))
	require.NoError(t, err)
	workers.Start()
	t.Cleanup(func() { _ = workers.Stop(context.Background()) })
	handler := handlerOn(t, h, workers)

	done := handleAsync(handler, context.Background(), emailBatch("p1", users(8)...))
	g.waitInFlight(t, 1)
	require.Eventually(t, func() bool { n, _ := sender.counts(); return n == 4 }, 10*time.Second, time.Millisecond,
		"all four workers built their message while the one connection is held by the first")
	in, _, _ := g.state()
	require.Equal(t, 1, in, "one send at a time on the one connection")

	g.open()
	require.NoError(t, result(t, done))
	_, maxIn, sent := g.state()
	require.Equal(t, 1, maxIn)
	require.Len(t, sent, 8)
	prepared, released := sender.counts()
	require.Equal(t, 8, prepared)
	require.Equal(t, 8, released, "every built message is released")
}
