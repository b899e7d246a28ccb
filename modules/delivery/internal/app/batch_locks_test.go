package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
