package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/platform/clock"
)

// EnqueueOnPostingFinished turns posting.PostingFinished into a message
// of its posting.* event type for the endpoints that subscribe to it.
type EnqueueOnPostingFinished struct{ q enqueuer }

// NewEnqueueOnPostingFinished returns the handler; every dependency is
// required and maxAge (webhooks.max_age) positive.
func NewEnqueueOnPostingFinished(store Store, maxAge time.Duration, clk clock.Clock, logger *slog.Logger) (*EnqueueOnPostingFinished, error) {
	q, err := newEnqueuer("enqueue on posting finished", store, maxAge, clk, logger)
	if err != nil {
		return nil, err
	}
	return &EnqueueOnPostingFinished{q: q}, nil
}

// postingEvents maps a posting's final status to its event type.
var postingEvents = map[string]string{
	posting.StatusCompleted: webhooks.EventPostingCompleted,
	posting.StatusFailed:    webhooks.EventPostingFailed,
	posting.StatusExpired:   webhooks.EventPostingExpired,
	posting.StatusCancelled: webhooks.EventPostingCancelled,
}

// Handle writes, in the event's transaction, one message per subscribed
// endpoint, keyed by the posting: a posting finishes once, and a
// redelivered event adds nothing.
func (h *EnqueueOnPostingFinished) Handle(ctx context.Context, e posting.PostingFinished) error {
	t, ok := postingEvents[e.Status]
	if !ok || e.PostingID == "" {
		h.q.log.WarnContext(ctx, "posting finished event ignored: unknown status", "posting_id", e.PostingID, "status", e.Status)
		return nil
	}
	at := e.FinishedAt.UTC()
	return h.q.enqueue(ctx, []string{t}, []event{{
		Type: t,
		Key:  e.PostingID,
		Payload: func() ([]byte, error) {
			c := e.Counters
			return json.Marshal(webhooks.Payload{Type: t, Timestamp: at, Data: webhooks.PostingData{
				PostingID: e.PostingID, Status: e.Status, NotificationType: e.NotificationType, FromEvent: e.FromEvent,
				Error: e.Error, At: at,
				Counters: webhooks.Counters{Recipients: c.Recipients, Sent: c.Sent, Failed: c.Failed, Expired: c.Expired,
					Skipped: c.Skipped, Cancelled: c.Cancelled},
			}})
		},
	}})
}
