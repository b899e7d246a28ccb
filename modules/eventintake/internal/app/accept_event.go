package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/platform/tracing"
)

// MessageIDKey is the metadata key of the transport's message ID (the AMQP
// message_id), the second source of an event key.
const MessageIDKey = "message_id"

// Publisher publishes raw messages; message.Publisher is one.
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
}

// AcceptEvent takes an event sent over HTTP: it validates it exactly as
// the consumer will and queues it on the intake topic, so it then takes the
// same path as an event published to the exchange.
type AcceptEvent struct {
	publisher Publisher
	topic     string
	maxBody   int64
}

// NewAcceptEvent returns an AcceptEvent queueing on topic events of at
// most maxBody bytes (intake.max_body, the consumer's cap; at least 1).
func NewAcceptEvent(publisher Publisher, topic string, maxBody int64) (*AcceptEvent, error) {
	if publisher == nil {
		return nil, errors.New("new accept event: nil publisher")
	}
	if topic == "" {
		return nil, errors.New("new accept event: empty topic")
	}
	if maxBody < 1 {
		return nil, fmt.Errorf("new accept event: body cap %d: must be at least 1", maxBody)
	}
	return &AcceptEvent{publisher: publisher, topic: topic, maxBody: maxBody}, nil
}

// MaxBody returns the largest payload Handle accepts, in bytes.
func (a *AcceptEvent) MaxBody() int64 { return a.maxBody }

// Handle validates payload with domain.CheckSize and domain.DecodeEvent
// and queues it unchanged, with its event key as message_id, and returns
// that key. It returns an error wrapping domain.ErrTooLarge or
// domain.ErrMalformedJSON, or a *domain.InvalidEventError, for bad input
// (nothing is queued), and any other error when the queue is not
// available. The message is not bound to ctx, since it outlives the
// request; it carries the trace context of ctx (traceparent), so that its
// handling joins the request's trace.
func (a *AcceptEvent) Handle(ctx context.Context, payload []byte) (string, error) {
	if err := domain.CheckSize(payload, a.maxBody); err != nil {
		return "", err
	}
	if _, err := domain.DecodeEvent(payload); err != nil {
		return "", err
	}
	key := domain.EventKey(payload, "")
	msg := message.NewMessage(watermill.NewUUID(), bytes.Clone(payload))
	msg.Metadata.Set(MessageIDKey, key)
	tracing.Inject(ctx, msg.Metadata)
	if err := a.publisher.Publish(a.topic, msg); err != nil {
		return "", fmt.Errorf("queue event %s: %w", key, err)
	}
	return key, nil
}
