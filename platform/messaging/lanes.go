package messaging

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/notifier/notifier/platform/lane"
)

// CommandHandlerOnLanes returns h once for each lane of a command that is
// Routed by lane (RouteKey "transactional", or "" for bulk): h itself for
// the bulk lane, its topic and queue unchanged, and a copy named
// "<name>.transactional" that consumes the transactional route, with a
// queue, concurrency and database connections of its own.
func CommandHandlerOnLanes(h cqrs.CommandHandler) []cqrs.CommandHandler {
	return []cqrs.CommandHandler{h, transactionalCommandHandler{h}}
}

// EventHandlerOnLanes is CommandHandlerOnLanes for an event handler.
func EventHandlerOnLanes(h cqrs.EventHandler) []cqrs.EventHandler {
	return []cqrs.EventHandler{h, transactionalEventHandler{h}}
}

// LaneRoute returns the route of a message of lane l on the topics that
// CommandHandlerOnLanes and EventHandlerOnLanes consume: "transactional"
// for the transactional lane, "" (the topic as it was before lanes) for
// bulk.
func LaneRoute(l string) string {
	if l == lane.Transactional {
		return lane.Transactional
	}
	return ""
}

type transactionalCommandHandler struct{ cqrs.CommandHandler }

func (h transactionalCommandHandler) HandlerName() string {
	return h.CommandHandler.HandlerName() + "." + lane.Transactional
}

func (transactionalCommandHandler) RouteKey() string { return lane.Transactional }

func (h transactionalCommandHandler) SkipDeduplication() bool {
	return skipsDeduplication(h.CommandHandler)
}

type transactionalEventHandler struct{ cqrs.EventHandler }

func (h transactionalEventHandler) HandlerName() string {
	return h.EventHandler.HandlerName() + "." + lane.Transactional
}

func (transactionalEventHandler) RouteKey() string { return lane.Transactional }

func (h transactionalEventHandler) SkipDeduplication() bool {
	return skipsDeduplication(h.EventHandler)
}

func (h transactionalEventHandler) Observes() bool { return observes(h.EventHandler) }

func skipsDeduplication(h any) bool {
	s, ok := h.(SkipsDeduplication)
	return ok && s.SkipDeduplication()
}

func observes(h any) bool {
	o, ok := h.(Observer)
	return ok && o.Observes()
}

// acceptingSubscriber hands over only the messages accept takes; it acks
// the others as they arrive.
type acceptingSubscriber struct {
	message.Subscriber
	accept func(*message.Message) bool
}

func (s acceptingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			if !s.accept(msg) {
				msg.Ack()
				continue
			}
			select {
			case out <- msg:
			case <-ctx.Done():
				msg.Nack() // left to redelivery
				return
			}
		}
	}()
	return out, nil
}
