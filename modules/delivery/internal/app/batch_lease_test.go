package app_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

func TestTwoCopiesOfABatchHandledAtOnceSendEachMessageOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	email := newGate()
	workers := startWorkers(t, 3, func() (app.Senders, error) { return app.Senders{"email": email}, nil })
	handler := handlerOn(t, h, workers)
	t.Cleanup(email.open)
	batch := emailBatch("p1", users(6)...)

	first := handleAsync(handler, context.Background(), batch)
	email.waitInFlight(t, 3) // the first copy is sending
	// A second copy arrives meanwhile (the outbox forwarded it again).
	second := handleAsync(handler, context.Background(), batch)
	select {
	case <-second:
		t.Fatal("the second copy finished while the first was still sending")
	case <-time.After(50 * time.Millisecond):
	}
	email.open()
	require.NoError(t, result(t, first))
	require.NoError(t, result(t, second))

	_, _, sent := email.state()
	for to, n := range perRecipient(sent) {
		require.Equal(t, 1, n, to)
	}
	require.Len(t, sent, 6)
	require.Len(t, h.outcomes(), 6, "each row reported once")
}

func TestACopyWaitingForItsBatchGivesUpWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	email := newGate()
	workers := startWorkers(t, 1, func() (app.Senders, error) { return app.Senders{"email": email}, nil })
	handler := handlerOn(t, h, workers)
	t.Cleanup(email.open)
	batch := emailBatch("p1", users(2)...)

	first := handleAsync(handler, context.Background(), batch)
	email.waitInFlight(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	second := handleAsync(handler, ctx, batch)
	cancel()
	require.ErrorIs(t, result(t, second), context.Canceled)
	email.open()
	require.NoError(t, result(t, first))
	_, _, sent := email.state()
	require.Len(t, sent, 2)
}

// shortLease makes leases quick to ask for again.
var shortLease = app.WithBatchLease(time.Minute, time.Minute, 5*time.Millisecond)

func batchKey(b delivery.DeliverBatch) app.BatchKey {
	return app.BatchKey{PostingID: b.PostingID, Lane: b.Lane, BatchNo: b.BatchNo}
}

func TestTwoInstancesGivenCopiesOfABatchAtOnceSendEachMessageOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy) // one database, two instances
	emailA, emailB := newGate(), newGate()
	handlerA := handlerOn(t, h, startWorkers(t, 3, func() (app.Senders, error) { return app.Senders{"email": emailA}, nil }), shortLease)
	handlerB := handlerOn(t, h, startWorkers(t, 3, func() (app.Senders, error) { return app.Senders{"email": emailB}, nil }), shortLease)
	t.Cleanup(emailA.open)
	t.Cleanup(emailB.open)
	batch := emailBatch("p1", users(6)...)

	doneA := handleAsync(handlerA, context.Background(), batch)
	emailA.waitInFlight(t, 3)
	doneB := handleAsync(handlerB, context.Background(), batch)
	select {
	case <-doneB:
		t.Fatal("the other instance's copy finished while the first was sending")
	case <-time.After(50 * time.Millisecond):
	}
	emailA.open()
	emailB.open()
	require.NoError(t, result(t, doneA))
	require.NoError(t, result(t, doneB))

	_, _, sentA := emailA.state()
	_, _, sentB := emailB.state()
	require.Len(t, sentA, 6)
	require.Empty(t, sentB, "the second instance found every row final")
	require.Len(t, h.outcomes(), 6)
}

func TestABatchWhoseInstanceDiedIsTakenOverOnceItsLeaseExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	batch := emailBatch("p1", users(3)...)
	ok, err := h.store.LeaseBatch(context.Background(), batchKey(batch), "a dead instance", 200*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)

	handler := mustHandlerWithSleep(t, h, nil, shortLease)
	require.NoError(t, handler.Handle(context.Background(), batch))
	require.Len(t, h.email.messages(), 3)
}

// losingLease is a store whose batch leases are taken once and never
// renewed, as when another instance took the batch over.
type losingLease struct {
	app.Store
	taken atomic.Bool
}

func (l *losingLease) LeaseBatch(ctx context.Context, b app.BatchKey, holder string, ttl time.Duration) (bool, error) {
	return l.taken.CompareAndSwap(false, true), nil
}

func TestALostLeaseStopsTheBatchForItsRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, concurrentPolicy)
	email := newGate()
	workers := startWorkers(t, 1, func() (app.Senders, error) { return app.Senders{"email": email}, nil })
	handler, err := app.NewDeliverBatchHandler(&losingLease{Store: h.store}, renderer(t), workers, h.events, h.clock, h.policy, discard(),
		app.WithBatchLease(time.Minute, 10*time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(email.open)

	// The gate holds the first send until its context ends: the refused
	// renewal ends it.
	done := handleAsync(handler, context.Background(), emailBatch("p1", users(5)...))
	require.ErrorIs(t, result(t, done), context.Canceled, "the batch stops and is redelivered")
	_, _, sent := email.state()
	require.Empty(t, sent, "the send in flight was interrupted, no other started")
}
