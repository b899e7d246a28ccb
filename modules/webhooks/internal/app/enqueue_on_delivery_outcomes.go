package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/platform/clock"
)

// EnqueueOnDeliveryOutcomes turns delivery.DeliveryOutcomes into messages
// of the delivery.* event types for the endpoints that subscribe to them.
type EnqueueOnDeliveryOutcomes struct{ q enqueuer }

// NewEnqueueOnDeliveryOutcomes returns the handler; every dependency is
// required and maxAge (webhooks.max_age) positive.
func NewEnqueueOnDeliveryOutcomes(store Store, maxAge time.Duration, clk clock.Clock, logger *slog.Logger) (*EnqueueOnDeliveryOutcomes, error) {
	q, err := newEnqueuer("enqueue on delivery outcomes", store, maxAge, clk, logger)
	if err != nil {
		return nil, err
	}
	return &EnqueueOnDeliveryOutcomes{q: q}, nil
}

// deliveryEvents maps a delivery's final status to its event type; a
// cancelled delivery has none (posting.cancelled says it).
var deliveryEvents = map[string]string{
	delivery.StatusSent:    webhooks.EventDeliverySent,
	delivery.StatusFailed:  webhooks.EventDeliveryFailed,
	delivery.StatusExpired: webhooks.EventDeliveryExpired,
	delivery.StatusSkipped: webhooks.EventDeliverySkipped,
}

// Handle writes, in the event's transaction, one message per outcome and
// subscribed endpoint, keyed by the delivery (posting, user, channel):
// each delivery is reported once, and a redelivered event adds nothing.
// Its data never holds the address. With no endpoint subscribed it reads
// the endpoints and nothing else.
func (h *EnqueueOnDeliveryOutcomes) Handle(ctx context.Context, e delivery.DeliveryOutcomes) error {
	var (
		types  []string
		events = make([]event, 0, len(e.Outcomes))
	)
	for _, o := range e.Outcomes {
		t, ok := deliveryEvents[o.Status]
		if !ok || e.PostingID == "" || o.UserID == "" {
			continue
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
		events = append(events, event{
			Type: t,
			Key:  e.PostingID + ":" + o.UserID + ":" + o.Channel,
			Payload: func() ([]byte, error) {
				return json.Marshal(webhooks.Payload{Type: t, Timestamp: o.At.UTC(), Data: webhooks.DeliveryData{
					PostingID: e.PostingID, UserID: o.UserID, Channel: o.Channel, Status: o.Status, Error: o.Error, At: o.At.UTC(),
				}})
			},
		})
	}
	return h.q.enqueue(ctx, types, events)
}
