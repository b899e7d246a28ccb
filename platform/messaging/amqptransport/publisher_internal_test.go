package amqptransport

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
)

func TestPublisherFailsFastAndRedialsOnlyAfterTheBackoff(t *testing.T) {
	t.Parallel()
	dials := 0
	refuse := func() (*amqp.Connection, error) { dials++; return nil, errors.New("connection refused") }
	conn := newRedialer("publish", refuse, func(int) time.Duration { return time.Hour }, watermill.NopLogger{})
	p := newPublisher(2, time.Second, conn, func(topic string) string { return topic },
		func(*amqp.Channel, string) error { return nil }, func(string) string { return "" })

	for range 3 {
		err := p.Publish("t", message.NewMessage(watermill.NewUUID(), []byte(`{}`)))
		require.ErrorIs(t, err, ErrNotConnected)
	}
	require.Equal(t, 1, dials, "within the backoff no dial is tried again")
	require.ErrorIs(t, p.Ping(), ErrNotConnected)

	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Publish("t", message.NewMessage(watermill.NewUUID(), nil)), errClosed)
}

func TestBackoffDoublesUpToTheMaximumWithJitter(t *testing.T) {
	t.Parallel()
	backoff := jitteredBackoff(100*time.Millisecond, time.Second)
	for failures, base := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 9: time.Second} {
		for range 20 {
			d := backoff(failures)
			require.GreaterOrEqual(t, d, base/2, "failures=%d", failures)
			require.LessOrEqual(t, d, base*3/2, "failures=%d", failures)
		}
	}
}
