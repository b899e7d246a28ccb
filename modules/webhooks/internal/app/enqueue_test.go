package app_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/memory"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

// watchedStore counts what the handlers ask of the store.
type watchedStore struct {
	app.Store
	subscribers, enqueues atomic.Int32
}

func (s *watchedStore) Subscribers(ctx context.Context, types []string) ([]domain.Endpoint, error) {
	s.subscribers.Add(1)
	return s.Store.Subscribers(ctx, types)
}

func (s *watchedStore) Enqueue(ctx context.Context, msgs []domain.Message) (int, error) {
	s.enqueues.Add(1)
	return s.Store.Enqueue(ctx, msgs)
}

func batchOf(n int, status string, at time.Time) delivery.DeliveryOutcomes {
	e := delivery.DeliveryOutcomes{PostingID: postingID}
	for i := range n {
		e.Outcomes = append(e.Outcomes, delivery.Outcome{UserID: "u" + string(rune('a'+i)), Channel: "email", Status: status, At: at})
	}
	return e
}

func TestWithoutAnEndpointAnOutcomeBatchCostsOneReadAndNoWrite(t *testing.T) {
	t.Parallel()
	s := &watchedStore{Store: memory.New()}
	w := newWorldOn(t, s, nil)

	require.NoError(t, w.outcomes.Handle(context.Background(), batchOf(500, delivery.StatusSent, w.clock.Now())))

	require.Equal(t, int32(1), s.subscribers.Load(), "one read of the endpoints per batch")
	require.Zero(t, s.enqueues.Load(), "nothing written, no transaction begun")

	// An endpoint of other event types changes nothing.
	w.register(t, "http://127.0.0.1:9/", webhooks.EventPostingCompleted)
	require.NoError(t, w.outcomes.Handle(context.Background(), batchOf(500, delivery.StatusSent, w.clock.Now())))
	require.Zero(t, s.enqueues.Load())
}

func TestARedeliveredEventAddsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	e := w.register(t, "http://127.0.0.1:9/", webhooks.EventDeliverySent, webhooks.EventDeliveryFailed)
	batch := batchOf(3, delivery.StatusSent, w.clock.Now())
	batch.Outcomes = append(batch.Outcomes,
		delivery.Outcome{UserID: "x", Channel: "sms", Status: delivery.StatusFailed, Error: "sms gateway: status 422", At: w.clock.Now()},
		delivery.Outcome{UserID: "y", Channel: "email", Status: delivery.StatusSkipped, Error: "opted out", At: w.clock.Now()},
		delivery.Outcome{UserID: "z", Channel: "email", Status: delivery.StatusCancelled, At: w.clock.Now()},
	)

	require.NoError(t, w.outcomes.Handle(context.Background(), batch))
	require.Equal(t, 4, w.endpoint(t, e.ID).Pending, "3 sent and 1 failed; not the skipped one (not subscribed) nor the cancelled one (no such event)")

	w.clock.Advance(time.Minute) // a redelivery, later
	require.NoError(t, w.outcomes.Handle(context.Background(), batch))
	require.Equal(t, 4, w.endpoint(t, e.ID).Pending, "the same deliveries make the same messages")

	msgs, err := w.store.Claim(context.Background(), e.ID, w.clock.Now(), w.clock.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	var failed map[string]any
	for _, m := range msgs {
		if m.EventType == webhooks.EventDeliveryFailed {
			var p webhooks.Payload
			require.NoError(t, json.Unmarshal(m.Payload, &p))
			failed = p.Data.(map[string]any)
		}
	}
	require.Equal(t, "sms gateway: status 422", failed["error"])
	require.Equal(t, "sms", failed["channel"])
	require.NotContains(t, failed, "phone")
}

func TestAFinishedPostingBecomesItsEvent(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, answer(200))
	e := w.register(t, r.srv.URL, webhooks.EventPostingCompleted, webhooks.EventPostingFailed)
	finished := posting.PostingFinished{
		PostingID: postingID, Status: posting.StatusCompleted, NotificationType: "new_movies", FromEvent: "evt-1",
		Priority: posting.PriorityBulk, FinishedAt: w.clock.Now(),
		Counters: posting.Counters{Recipients: 3, Sent: 2, Skipped: 1},
	}
	require.NoError(t, w.finished.Handle(context.Background(), finished))
	require.NoError(t, w.finished.Handle(context.Background(), finished)) // redelivered
	require.NoError(t, w.finished.Handle(context.Background(), posting.PostingFinished{PostingID: "other", Status: posting.StatusCancelled}))

	require.Equal(t, 1, w.dispatch(t))

	c := r.got()[0]
	require.NoError(t, verify(t, e.Secret, c, true))
	p := c.payload(t)
	require.Equal(t, "posting.completed", p["type"])
	require.Equal(t, map[string]any{
		"posting_id": postingID, "status": "completed", "notification_type": "new_movies", "from_event": "evt-1",
		"counters": map[string]any{"recipients": 3.0, "sent": 2.0, "failed": 0.0, "expired": 0.0, "skipped": 1.0, "cancelled": 0.0},
		"at":       w.clock.Now().UTC().Format(time.RFC3339Nano),
	}, p["data"])
}
