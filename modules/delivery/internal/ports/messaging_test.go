package ports_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/ports"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/messaging"
)

type nopSender struct{}

func (nopSender) Send(context.Context, app.Message) error { return nil }

type nopEvents struct{}

func (nopEvents) Publish(context.Context, any) error { return nil }

type nopRenderer struct{ app.Renderer }

func newDeliverBatchHandler(t *testing.T) *app.DeliverBatchHandler {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	workers, err := app.NewWorkers(1, func() (app.Senders, error) { return app.Senders{"email": nopSender{}}, nil }, logger)
	require.NoError(t, err)
	h, err := app.NewDeliverBatchHandler(memory.New(), nopRenderer{}, workers, nopEvents{},
		clock.NewFake(time.Now()), app.RetryPolicy{MaxAttempts: 1}, logger)
	require.NoError(t, err)
	return h
}

func TestEachLaneHasItsOwnHandlerNameAndRoute(t *testing.T) {
	t.Parallel()
	h := newDeliverBatchHandler(t)
	transactional, err := ports.NewDeliverBatchLane(delivery.LaneTransactional, h)
	require.NoError(t, err)
	bulk, err := ports.NewDeliverBatchLane(delivery.LaneBulk, h)
	require.NoError(t, err)

	var _ cqrs.CommandHandler = transactional
	var _ messaging.RouteKeyed = transactional
	require.Equal(t, "delivery.DeliverBatch.transactional", transactional.HandlerName())
	require.Equal(t, "delivery.DeliverBatch.bulk", bulk.HandlerName())
	require.Equal(t, delivery.LaneTransactional, transactional.RouteKey())
	require.Equal(t, delivery.LaneBulk, bulk.RouteKey())
	require.IsType(t, &delivery.DeliverBatch{}, bulk.NewCommand())

	// A command travels on the topic its lane's handler subscribes to.
	for _, lane := range []*ports.DeliverBatchLane{transactional, bulk} {
		cmd := delivery.DeliverBatch{Lane: lane.RouteKey()}
		require.Equal(t, cmd.RouteKey(), lane.RouteKey())
	}

	_, err = ports.NewDeliverBatchLane("express", h)
	require.Error(t, err)
	_, err = ports.NewDeliverBatchLane(delivery.LaneBulk, nil)
	require.Error(t, err)
}

func TestLanesAskTheRouterToSkipKeyDeduplication(t *testing.T) {
	t.Parallel()
	h := newDeliverBatchHandler(t)
	for _, lane := range []string{delivery.LaneTransactional, delivery.LaneBulk} {
		l, err := ports.NewDeliverBatchLane(lane, h)
		require.NoError(t, err)
		var handler cqrs.CommandHandler = l
		skipper, ok := handler.(messaging.SkipsDeduplication)
		require.True(t, ok, lane)
		require.True(t, skipper.SkipDeduplication(), "delivery rows make the batch idempotent")
	}
}

func TestCancellationHandlerConsumesPostingCancelled(t *testing.T) {
	t.Parallel()
	inner, err := app.NewCancelDeliveriesOnPostingCancelled(memory.New(), nopEvents{}, clock.System{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	h, err := ports.NewCancelDeliveriesOnPostingCancelled(inner)
	require.NoError(t, err)
	var _ cqrs.EventHandler = h
	require.Equal(t, "delivery.CancelDeliveriesOnPostingCancelled", h.HandlerName())
	require.IsType(t, &posting.PostingCancelled{}, h.NewEvent())
	require.NoError(t, h.Handle(context.Background(), &posting.PostingCancelled{PostingID: "p1"}))
	require.True(t, messaging.IsPermanent(h.Handle(context.Background(), &delivery.DeliverBatch{})))
}
