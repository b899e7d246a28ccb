package messaging

import (
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/notifier/notifier/platform/clock"
)

// Metadata keys of the poison queue besides Watermill's
// (middleware.ReasonForPoisonedKey, PoisonedTopicKey, PoisonedHandlerKey).
const (
	// PoisonedAtKey is when the router sent the message to the poison
	// queue (RFC 3339, UTC): what its retention (amqp.poison_ttl) counts
	// from wherever it is kept.
	PoisonedAtKey = "poisoned_at"
	// RequeuedForKey names the one handler a message put back on its topic
	// from the poison queue is for. Every other handler of the topic
	// acknowledges it untouched (it had handled the message, or never had
	// to), before any middleware.
	RequeuedForKey = "requeued_for"
)

// errRedeliverPoisoned marks the failure of a poison handler: the message
// must come back to that handler, not go to the poison queue again.
var errRedeliverPoisoned = errors.New("poison handler failed; the message is redelivered")

// poisonPublisher is the publisher of the poison queue middleware: it
// stamps each poisoned message with PoisonedAtKey.
type poisonPublisher struct {
	message.Publisher
	clock clock.Clock
}

func (p poisonPublisher) Publish(topic string, msgs ...*message.Message) error {
	at := p.clock.Now().UTC().Format(time.RFC3339Nano)
	for _, msg := range msgs {
		msg.Metadata.Set(PoisonedAtKey, at)
	}
	return p.Publisher.Publish(topic, msgs...)
}

// goesToPoisonQueue tells the poison queue middleware which errors send a
// message there: all but a poison handler's own.
func goesToPoisonQueue(err error) bool { return !errors.Is(err, errRedeliverPoisoned) }

// onlyTheRequeuedHandler is the outermost middleware: a message requeued
// from the poison queue (RequeuedForKey) is acknowledged untouched by every
// handler but the one it is for. The handlers of the poison topic see it
// whatever it says: a requeued message poisoned again goes there with its
// RequeuedForKey.
func onlyTheRequeuedHandler(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		target := msg.Metadata.Get(RequeuedForKey)
		if target == "" || message.SubscribeTopicFromCtx(msg.Context()) == PoisonTopic ||
			target == message.HandlerNameFromCtx(msg.Context()) {
			return h(msg)
		}
		return nil, nil
	}
}

// Handles reports whether a handler named name consumes messages here (a
// command, event or raw handler; not a handler of the poison topic): the
// one a message can be requeued for.
func (m *Messaging) Handles(name string) bool {
	_, ok := m.lanes.Load(name)
	return ok
}

// AddPoisonHandler registers a handler of every poisoned message that keeps
// what it sees (such as a store for operators), and may fail doing so.
// Unlike an AddPoisonObserver's, its failure does not lose the message nor
// send it to the poison queue again (it would come back to it, its reason
// and handler overwritten): after the router's retries the message is
// redelivered to it, until it succeeds. A failure marked Permanent cannot
// succeed: it is logged, without the message's content, and the message
// dropped by this handler; handle must then leave the unit of work it ran
// in able to commit (a savepoint around what failed), or the failed commit
// sends the message round again. Messages are not deduplicated: handle
// must be idempotent.
func (m *Messaging) AddPoisonHandler(name string, handle func(*message.Message) error) error {
	if err := m.initialize(PoisonTopic, name); err != nil {
		return err
	}
	sub, err := m.transport.Subscriber(name)
	if err != nil {
		return fmt.Errorf("subscriber for %s: %w", name, err)
	}
	m.dedup.SetKeyFunc(name, noKey)
	m.router.AddConsumerHandler(name, PoisonTopic, sub, func(msg *message.Message) error {
		err := handle(msg)
		switch {
		case err == nil:
			return nil
		case IsPermanent(err):
			m.logger.Error("poison handler refused a poisoned message for good",
				"handler", name, "message_uuid", msg.UUID,
				"poisoned_by", msg.Metadata.Get(middleware.PoisonedHandlerKey), "error", err)
			return nil
		default:
			return fmt.Errorf("%w: %w", errRedeliverPoisoned, err)
		}
	})
	return nil
}
