package poisonqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/messaging"
)

// RequeuedAtKey is the metadata key of when a message was requeued from
// the poison queue (RFC 3339, UTC).
const RequeuedAtKey = "requeued_at"

// taker hands an entry over and deletes it once handled (Store.Take).
type taker interface {
	Take(ctx context.Context, id string, fn func(ctx context.Context, m Message) error) error
}

// handlerSet tells which handlers consume messages here
// (*messaging.Messaging).
type handlerSet interface {
	Handles(name string) bool
}

// RequeuePoisonedHandler puts a poisoned message back on its topic for the
// handler that refused it, once the cause is fixed.
//
// The message keeps its UUID, payload and metadata (its lane, its event
// key), loses what the poison queue added, and gains
// messaging.RequeuedForKey, so that only the handler that refused it takes
// it: the topic's other handlers had handled it (or had no need to) and
// let it pass. That handler never kept the message's deduplication key
// (a failed handler releases it), so it handles the copy; and since the
// UUID is the same, a second copy (an entry recorded again from a
// redelivered poisoning, requeued again) is dropped as done once one
// succeeded. Its published_at, if it has one, is now: the copy's wait is
// counted from its requeue (notifier_delivery_oldest_pending_age_seconds).
type RequeuePoisonedHandler struct {
	store     taker
	publisher message.Publisher
	handlers  handlerSet
	clock     clock.Clock
	logger    *slog.Logger
}

// NewRequeuePoisonedHandler returns the handler; every argument is
// required. publisher is the transport's (the outbox on RabbitMQ), which
// publishes in the store's transaction when the message's context carries
// one.
func NewRequeuePoisonedHandler(store taker, publisher message.Publisher, handlers handlerSet, c clock.Clock, logger *slog.Logger) (*RequeuePoisonedHandler, error) {
	if store == nil || publisher == nil || handlers == nil || c == nil || logger == nil {
		return nil, errors.New("new requeue poisoned handler: store, publisher, handlers, clock and logger are required")
	}
	return &RequeuePoisonedHandler{store: store, publisher: publisher, handlers: handlers, clock: c, logger: logger}, nil
}

// Handle publishes the entry id's message to its topic and deletes the
// entry, at once (in one transaction with PostgreSQL: on RabbitMQ the
// message goes through the outbox). It returns the entry requeued; an
// *InvalidInputError naming "id" for an id that is no entry id;
// ErrNotFound for one not in the store (requeued or discarded already: a
// repeat sends nothing); a *ConflictError, keeping the entry, when no
// handler of that name runs here (a handler renamed or removed since: the
// copy would reach no one) or the entry has no topic.
func (h *RequeuePoisonedHandler) Handle(ctx context.Context, id string) (Message, error) {
	id, ok := canonicalID(id)
	if !ok {
		return Message{}, invalid("id", "is not the id of a poisoned message (a UUID)")
	}
	var requeued Message
	err := h.store.Take(ctx, id, func(ctx context.Context, m Message) error {
		switch {
		case m.Topic == "" || m.Topic == messaging.PoisonTopic:
			return &ConflictError{Reason: "the message does not say which topic it came from; it can only be discarded"}
		case m.Handler == "" || !h.handlers.Handles(m.Handler):
			return &ConflictError{Reason: fmt.Sprintf("no handler %q runs in this version to take the message; it can only be discarded", m.Handler)}
		}
		msg := requeueMessage(m, h.clock.Now())
		msg.SetContext(ctx)
		if err := h.publisher.Publish(m.Topic, msg); err != nil {
			return fmt.Errorf("publish to %s: %w", m.Topic, err)
		}
		requeued = m
		return nil
	})
	var conflict *ConflictError
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound), errors.As(err, &conflict):
		return Message{}, err
	default:
		return Message{}, fmt.Errorf("requeue poisoned message: %w", err)
	}
	h.logger.InfoContext(ctx, "poisoned message requeued",
		"id", requeued.ID, "message_uuid", requeued.MessageID, "topic", requeued.Topic, "handler", requeued.Handler)
	return requeued, nil
}

// requeueMessage returns the message to publish for m at now.
func requeueMessage(m Message, now time.Time) *message.Message {
	msg := message.NewMessage(m.MessageID, m.Payload)
	stamp := now.UTC().Format(time.RFC3339Nano)
	for k, v := range m.Metadata {
		if !keptOnRequeue(k) {
			continue
		}
		msg.Metadata.Set(k, v)
	}
	if _, ok := m.Metadata[messaging.PublishedAtKey]; ok {
		msg.Metadata.Set(messaging.PublishedAtKey, stamp)
	}
	msg.Metadata.Set(messaging.RequeuedForKey, m.Handler)
	msg.Metadata.Set(RequeuedAtKey, stamp)
	return msg
}

// keptOnRequeue reports whether a requeued message keeps the metadata key
// k: not what the poison queue added, nor what RabbitMQ adds on its way
// (x-death, x-delivery-count…), which it would read again as its own.
func keptOnRequeue(k string) bool {
	switch k {
	case middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey,
		middleware.PoisonedSubscriberKey, messaging.PoisonedAtKey:
		return false
	}
	return !strings.HasPrefix(k, "x-death") && !strings.HasPrefix(k, "x-first-death-") &&
		!strings.HasPrefix(k, "x-last-death-") && k != "x-delivery-count"
}
