// Package ports holds the intake's ways in: the raw Watermill handlers of
// the external exchanges and the HTTP API.
package ports

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/platform/messaging"
)

// ConsumeEventsName is the name of the raw handler of the intake exchange;
// with several exchanges each handler gets ".<exchange>" appended.
const ConsumeEventsName = "eventintake.ConsumeEvents"

// EventConsumer handles one event payload and tells its event key;
// *app.ConsumeEvent is one.
type EventConsumer interface {
	Handle(ctx context.Context, payload []byte, messageID string) error
	Key(payload []byte, messageID string) string
}

// RawHandlers returns one raw handler per exchange (topic). Each drops an
// event it already handled, recognised by its event key (event_id, else
// message_id, else the payload's SHA-256; see EventConsumer.Key), so a
// publisher's retry or a broker's redelivery makes no second set of
// postings.
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
		handlers = append(handlers, messaging.RawHandler{Name: name, Topic: exchange, Handle: handle, Key: dedupKey(consumer)})
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
