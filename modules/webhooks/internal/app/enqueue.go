package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// enqueuer is what the handlers of the watched events share: it writes one
// message per (subscribed endpoint, event), in the event's transaction.
type enqueuer struct {
	store  Store
	maxAge time.Duration
	clock  clock.Clock
	log    *slog.Logger
}

func newEnqueuer(what string, store Store, maxAge time.Duration, clk clock.Clock, logger *slog.Logger) (enqueuer, error) {
	if store == nil || clk == nil || logger == nil {
		return enqueuer{}, fmt.Errorf("new %s: nil dependency", what)
	}
	if maxAge <= 0 {
		return enqueuer{}, fmt.Errorf("new %s: max age %s is not positive", what, maxAge)
	}
	return enqueuer{store: store, maxAge: maxAge, clock: clk, log: logger}, nil
}

// event is one event to send: its type, its key (unique among the events
// of that type) and its body, made only if an endpoint wants it.
type event struct {
	Type    string
	Key     string
	Payload func() ([]byte, error)
}

// enqueue stores a message of each event for each enabled endpoint that
// subscribes to its type. With no such endpoint it costs one read of the
// endpoints and begins no transaction. Events already stored for an
// endpoint (a redelivered event) add nothing.
func (q enqueuer) enqueue(ctx context.Context, types []string, events []event) error {
	if len(events) == 0 {
		return nil
	}
	subs, err := q.store.Subscribers(ctx, types)
	if err != nil {
		return fmt.Errorf("read subscribed endpoints: %w", err)
	}
	if len(subs) == 0 {
		return nil
	}
	now := q.clock.Now()
	var msgs []domain.Message
	for _, e := range events {
		var body []byte
		for _, s := range subs {
			if !s.Subscribes(e.Type) {
				continue
			}
			if body == nil {
				if body, err = e.Payload(); err != nil {
					return fmt.Errorf("encode %s: %w", e.Type, err)
				}
			}
			id, err := uuid.NewV7()
			if err != nil {
				return fmt.Errorf("message id: %w", err)
			}
			msgs = append(msgs, domain.Message{
				ID: id, EndpointID: s.ID, EventKey: e.Type + ":" + e.Key, EventType: e.Type, Payload: body,
				CreatedAt: now, NextAttemptAt: now, ExpiresAt: now.Add(q.maxAge),
			})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	n, err := q.store.Enqueue(ctx, msgs)
	if err != nil {
		return fmt.Errorf("enqueue webhook messages: %w", err)
	}
	q.log.DebugContext(ctx, "webhook messages enqueued", "messages", n, "repeated", len(msgs)-n)
	return nil
}
