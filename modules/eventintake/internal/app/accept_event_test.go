package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/eventintake/internal/intaketest"
)

// recordingPublisher records what it publishes, or fails with err.
type recordingPublisher struct {
	mu     sync.Mutex
	err    error
	topics []string
	msgs   []*message.Message
}

func (p *recordingPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	for _, m := range msgs {
		p.topics = append(p.topics, topic)
		p.msgs = append(p.msgs, m)
	}
	return nil
}

func TestAcceptedEventIsQueuedUnchangedWithItsKeyAsMessageID(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	accept, err := app.NewAcceptEvent(pub, "notifier.events", maxBody)
	require.NoError(t, err)
	payload := intaketest.Event(t, "user_signed_up")

	key, err := accept.Handle(context.Background(), payload)

	require.NoError(t, err)
	require.Equal(t, domain.EventKey(payload, ""), key)
	require.Equal(t, []string{"notifier.events"}, pub.topics)
	msg := pub.msgs[0]
	require.Equal(t, payload, []byte(msg.Payload))
	require.Equal(t, key, msg.Metadata.Get(app.MessageIDKey))
	require.NotEmpty(t, msg.UUID)
	require.Equal(t, key, domain.EventKey(msg.Payload, msg.Metadata.Get(app.MessageIDKey)), "the consumer finds the same key")

	payload[0] = 'X'
	require.Equal(t, byte('{'), msg.Payload[0], "the message owns its payload")
}

func TestAcceptedEventWithAnEventIDIsKeyedByIt(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	accept, err := app.NewAcceptEvent(pub, "notifier.events", maxBody)
	require.NoError(t, err)

	key, err := accept.Handle(context.Background(), []byte(`{"event_id": "evt-9", "from_service": "cinema_scanner", "event": "new_movies", "details": {"movies": ["http://fastapi/api/v1/movies/1/"]}}`))

	require.NoError(t, err)
	require.Equal(t, "evt-9", key)
	require.Equal(t, "evt-9", pub.msgs[0].Metadata.Get(app.MessageIDKey))
}

func TestInvalidEventIsNotQueued(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	accept, err := app.NewAcceptEvent(pub, "notifier.events", maxBody)
	require.NoError(t, err)

	_, err = accept.Handle(context.Background(), []byte(`{"from_service": "auth", "event": "user_signed_up", "details": {}}`))
	var invalid *domain.InvalidEventError
	require.ErrorAs(t, err, &invalid)
	require.Equal(t, "details.user", invalid.Field)

	_, err = accept.Handle(context.Background(), []byte(`{`))
	require.ErrorIs(t, err, domain.ErrMalformedJSON)
	require.Empty(t, pub.msgs)
}

func TestQueueFailureIsReported(t *testing.T) {
	t.Parallel()
	accept, err := app.NewAcceptEvent(&recordingPublisher{err: errors.New("connection reset")}, "notifier.events", maxBody)
	require.NoError(t, err)

	_, err = accept.Handle(context.Background(), intaketest.Event(t, "new_movies"))
	require.ErrorContains(t, err, "connection reset")
}

func TestAcceptEventRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	_, err := app.NewAcceptEvent(nil, "notifier.events", maxBody)
	require.Error(t, err)
	_, err = app.NewAcceptEvent(&recordingPublisher{}, "", maxBody)
	require.Error(t, err)
	_, err = app.NewAcceptEvent(&recordingPublisher{}, "notifier.events", 0)
	require.ErrorContains(t, err, "body cap")
}

func TestAnEventOverTheBodyCapIsNotQueued(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	accept, err := app.NewAcceptEvent(pub, "notifier.events", maxBody)
	require.NoError(t, err)
	require.Equal(t, int64(maxBody), accept.MaxBody())

	_, err = accept.Handle(context.Background(), oversized(t))
	require.ErrorIs(t, err, domain.ErrTooLarge, "judged as the consumer would")
	require.Empty(t, pub.msgs)
}
