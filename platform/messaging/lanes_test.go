package messaging_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
)

// codeAsked is routed by lane, as the postings' messages are.
type codeAsked struct {
	Lane string `json:"lane"`
}

func (codeAsked) Name() string { return "test.CodeAsked.v1" }

func (e codeAsked) RouteKey() string { return messaging.LaneRoute(e.Lane) }

type seen struct {
	mu     sync.Mutex
	byLane map[string][]string // handler lane (from the context) → the events' lanes
}

func (s *seen) add(ctxLane, eventLane string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byLane[ctxLane] = append(s.byLane[ctxLane], eventLane)
}

func (s *seen) get() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for k, v := range s.byLane {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func TestEachLaneHasATopicAndAHandlerOfItsOwnAndItsMessagesSayTheirLane(t *testing.T) {
	m := newMessaging(t)
	got := &seen{byLane: map[string][]string{}}
	handlers := messaging.EventHandlerOnLanes(cqrs.NewEventHandler("test.CountCodes", func(ctx context.Context, e *codeAsked) error {
		got.add(lane.From(ctx), e.Lane)
		return nil
	}))
	require.Len(t, handlers, 2)
	require.Equal(t, "test.CountCodes", handlers[0].HandlerName())
	require.Equal(t, "test.CountCodes.transactional", handlers[1].HandlerName())
	for _, h := range handlers {
		require.NoError(t, m.AddEventHandler(h))
	}
	var mu sync.Mutex
	metadata := map[string]string{} // topic → lane metadata
	for _, topic := range []string{"events.test.CodeAsked.v1", "events.test.CodeAsked.v1.transactional"} {
		require.NoError(t, m.AddRawHandler(messaging.RawHandler{Name: "test.Topic." + topic, Topic: topic, Handle: func(msg *message.Message) error {
			mu.Lock()
			defer mu.Unlock()
			metadata[topic] = msg.Metadata.Get(lane.MetadataKey)
			return nil
		}}))
	}
	run(t, m)

	require.NoError(t, m.EventBus().Publish(context.Background(), codeAsked{Lane: lane.Transactional}))
	require.NoError(t, m.EventBus().Publish(context.Background(), codeAsked{Lane: lane.Bulk}))
	require.Eventually(t, func() bool { g := got.get(); return len(g[lane.Bulk]) == 1 && len(g[lane.Transactional]) == 1 },
		5*time.Second, time.Millisecond)
	require.Equal(t, map[string][]string{lane.Bulk: {lane.Bulk}, lane.Transactional: {lane.Transactional}}, got.get(),
		"each lane's handler gets its lane's events only, and knows its lane")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(metadata) == 2 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]string{
		"events.test.CodeAsked.v1":               lane.Bulk,
		"events.test.CodeAsked.v1.transactional": lane.Transactional,
	}, metadata, "the bulk lane keeps the topic it had before lanes")
}

func TestARawHandlerTakesOnlyWhatItAcceptsAndAcknowledgesTheRest(t *testing.T) {
	m := newMessaging(t)
	var mu sync.Mutex
	var handled []string
	require.NoError(t, m.AddRawHandler(messaging.RawHandler{
		Name: "test.Codes", Topic: "test.events", Lane: lane.Transactional,
		Accept: func(msg *message.Message) bool { return string(msg.Payload) == "code" },
		Handle: func(msg *message.Message) error {
			mu.Lock()
			defer mu.Unlock()
			handled = append(handled, string(msg.Payload)+" on "+lane.From(msg.Context()))
			return nil
		},
	}))
	run(t, m)
	for _, payload := range []string{"mailing", "code", "mailing"} {
		require.NoError(t, m.Publisher().Publish("test.events", message.NewMessage(watermill.NewUUID(), []byte(payload))))
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // a declined message has every chance to be handled, or redelivered
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"code on transactional"}, handled)
}

func TestLanesOfNamesAndContexts(t *testing.T) {
	require.Equal(t, lane.Transactional, lane.Of("transactional"))
	for _, s := range []string{"", "bulk", "Transactional", "other"} {
		require.Equal(t, lane.Bulk, lane.Of(s), s)
	}
	require.Equal(t, lane.Bulk, lane.From(context.Background()))
	require.Equal(t, lane.Transactional, lane.From(lane.With(context.Background(), "transactional")))
	require.Equal(t, "transactional", messaging.LaneRoute(lane.Transactional))
	require.Empty(t, messaging.LaneRoute(lane.Bulk))
	msg := message.NewMessage("1", nil)
	require.Equal(t, lane.Bulk, lane.OfMessage(msg), "a message of a version before lanes")
	msg.Metadata.Set(lane.MetadataKey, lane.Transactional)
	require.Equal(t, lane.Transactional, lane.OfMessage(msg))
}
