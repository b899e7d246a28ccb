// Package ports holds the intake's ways in: the raw Watermill handlers of
// the external exchanges and the HTTP API.
package ports

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
)

// ConsumeEventsName is the name of the raw handler of the intake exchange;
// with several exchanges each handler gets ".<exchange>" appended.
const ConsumeEventsName = "eventintake.ConsumeEvents"

// EventConsumer handles one event payload and tells its event key and its
// lane; *app.ConsumeEvent is one.
type EventConsumer interface {
	Handle(ctx context.Context, payload []byte, messageID string) error
	Key(payload []byte, messageID string) string
	Lane(payload []byte) string
}

// RawHandlers returns two raw handlers per exchange (topic), each with a
// queue of its own: the bulk one handles every event, as it always has;
// the transactional one ("<name>.transactional") handles only the events
// of transactional flows (a sign-up's welcome), on the transactional
// lane's resources, so that such an event never waits behind a backlog of
// mailings' events. Each event of a transactional flow is so handled
// twice, which makes its postings once: they have the same idempotency key
// (app.IdempotencyKey), and whichever handler comes second finds them
// made, and what is wrong with an event is left to the bulk handler, which
// puts it on the poison queue. Each handler drops an event it already handled, recognised by its
// event key (event_id, else message_id, else the payload's SHA-256; see
// EventConsumer.Key), so a publisher's retry or a broker's redelivery
// makes no second set of postings.
func RawHandlers(exchanges []string, consumer EventConsumer) ([]messaging.RawHandler, error) {
	if consumer == nil {
		return nil, errors.New("raw handlers: nil consumer")
	}
	if len(exchanges) == 0 {
		return nil, errors.New("raw handlers: no exchange to consume")
	}
	handle := func(msg *message.Message) error {
		return consumer.Handle(msg.Context(), msg.Payload, msg.Metadata.Get(app.MessageIDKey))
	}
	// The bulk handler sees every event too: what is wrong with one is
	// put on the poison queue once, by it.
	handleOnce := func(msg *message.Message) error {
		if err := handle(msg); err != nil && !messaging.IsPermanent(err) {
			return err
		}
		return nil
	}
	seen := make(map[string]bool, len(exchanges))
	handlers := make([]messaging.RawHandler, 0, len(exchanges))
	for _, exchange := range exchanges {
		if exchange == "" {
			return nil, errors.New("raw handlers: empty exchange name")
		}
		if seen[exchange] {
			return nil, fmt.Errorf("raw handlers: exchange %s listed twice", exchange)
		}
		seen[exchange] = true
		name := ConsumeEventsName
		if len(exchanges) > 1 {
			name += "." + exchange
		}
		handlers = append(handlers,
			messaging.RawHandler{Name: name, Topic: exchange, Handle: handle, Key: dedupKey(consumer)},
			messaging.RawHandler{
				Name: name + "." + lane.Transactional, Topic: exchange, Handle: handleOnce, Key: dedupKey(consumer),
				Lane:   lane.Transactional,
				Accept: func(msg *message.Message) bool { return consumer.Lane(msg.Payload) == lane.Transactional },
			})
	}
	return handlers, nil
}

// dedupKey returns the deduplication KeyFunc of the intake handlers:
// "<handler name>:<event key>".
func dedupKey(consumer EventConsumer) messaging.KeyFunc {
	return func(handlerName string, msg *message.Message) (string, error) {
		return handlerName + ":" + consumer.Key(msg.Payload, msg.Metadata.Get(app.MessageIDKey)), nil
	}
}
