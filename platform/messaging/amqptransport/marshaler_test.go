package amqptransport_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/messaging/amqptransport"
)

func TestMarshalerRoundTripKeepsUUIDPayloadAndMetadataPersistently(t *testing.T) {
	t.Parallel()
	m := amqptransport.Marshaler{}
	msg := message.NewMessage("3f1c2a4e-0000-4000-8000-000000000001", []byte(`{"n":1}`))
	msg.Metadata.Set("name", "test.PingSent.v1")

	pub, err := m.Marshal(msg)
	require.NoError(t, err)
	require.Equal(t, msg.UUID, pub.MessageId, "the Watermill UUID travels as the AMQP message_id")
	require.Equal(t, amqp.Persistent, pub.DeliveryMode)

	got, err := m.Unmarshal(amqp.Delivery{MessageId: pub.MessageId, Headers: pub.Headers, Body: pub.Body})
	require.NoError(t, err)
	require.Equal(t, msg.UUID, got.UUID)
	require.Equal(t, msg.Payload, got.Payload)
	require.Equal(t, "test.PingSent.v1", got.Metadata.Get("name"))
	require.Equal(t, msg.UUID, got.Metadata.Get(amqptransport.MessageIDKey))
}

func TestMarshalerAcceptsPlainJSONWithDeadLetterAndDeliveryCountHeaders(t *testing.T) {
	t.Parallel()
	diedAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := amqp.Delivery{
		ContentType: "application/json",
		MessageId:   "evt-42",
		Body:        []byte(`{"event":"user_registered"}`),
		Headers: amqp.Table{
			"x-delivery-count": int64(3),
			"x-death": []any{amqp.Table{
				"count":        int64(2),
				"reason":       "rejected",
				"queue":        "notifier.events_eventintake.ConsumeEvents",
				"time":         diedAt,
				"exchange":     "notifier.events",
				"routing-keys": []any{""},
			}},
			"x-first":  true,
			"x-ratio":  0.5,
			"x-binary": []byte("raw"),
			"source":   "auth",
		},
	}

	msg, err := amqptransport.Marshaler{}.Unmarshal(d)
	require.NoError(t, err, "non-string headers must never make a message undeliverable")
	require.Equal(t, "evt-42", msg.UUID)
	require.Equal(t, d.Body, []byte(msg.Payload))
	require.Equal(t, "evt-42", msg.Metadata.Get(amqptransport.MessageIDKey))
	require.Equal(t, "3", msg.Metadata.Get("x-delivery-count"))
	require.Equal(t, "true", msg.Metadata.Get("x-first"))
	require.Equal(t, "0.5", msg.Metadata.Get("x-ratio"))
	require.Equal(t, "raw", msg.Metadata.Get("x-binary"))
	require.Equal(t, "auth", msg.Metadata.Get("source"))

	var deaths []map[string]any
	require.NoError(t, json.Unmarshal([]byte(msg.Metadata.Get("x-death")), &deaths), "x-death is rendered as JSON")
	require.Len(t, deaths, 1)
	require.Equal(t, "rejected", deaths[0]["reason"])
	require.EqualValues(t, 2, deaths[0]["count"])
	require.Equal(t, diedAt.Format(time.RFC3339), deaths[0]["time"])

	again, err := amqptransport.Marshaler{}.Unmarshal(d)
	require.NoError(t, err)
	require.Equal(t, msg.Metadata, again.Metadata, "the rendering is stable")
}

func TestMarshalerGivesAMessageWithoutIDsANewUUIDAndNoMessageID(t *testing.T) {
	t.Parallel()
	d := amqp.Delivery{Body: []byte(`{"event":"new_movies"}`)}

	first, err := amqptransport.Marshaler{}.Unmarshal(d)
	require.NoError(t, err)
	second, err := amqptransport.Marshaler{}.Unmarshal(d)
	require.NoError(t, err)

	require.NotEmpty(t, first.UUID)
	require.NotEqual(t, first.UUID, second.UUID)
	require.Empty(t, first.Metadata.Get(amqptransport.MessageIDKey))
	require.Equal(t, d.Body, []byte(first.Payload))
}

func TestMarshalerPrefersAnExplicitMessageIDHeaderOverTheAMQPProperty(t *testing.T) {
	t.Parallel()
	// The HTTP intake publishes with a random UUID and the event key as
	// message_id metadata: the key, not the UUID, must reach the consumer.
	msg := message.NewMessage("5b0e8c1a-0000-4000-8000-000000000002", []byte(`{}`))
	msg.Metadata.Set(amqptransport.MessageIDKey, "event-key")
	pub, err := amqptransport.Marshaler{}.Marshal(msg)
	require.NoError(t, err)

	got, err := amqptransport.Marshaler{}.Unmarshal(amqp.Delivery{MessageId: pub.MessageId, Headers: pub.Headers, Body: pub.Body})
	require.NoError(t, err)
	require.Equal(t, msg.UUID, got.UUID)
	require.Equal(t, "event-key", got.Metadata.Get(amqptransport.MessageIDKey))
}

func TestMarshalerReadsTheUUIDHeaderOfWatermillsDefaultMarshaler(t *testing.T) {
	t.Parallel()
	got, err := amqptransport.Marshaler{}.Unmarshal(amqp.Delivery{
		Headers: amqp.Table{"_watermill_message_uuid": "uuid-from-header", "name": "x"},
		Body:    []byte(`{}`),
	})
	require.NoError(t, err)
	require.Equal(t, "uuid-from-header", got.UUID)
	require.Equal(t, message.Metadata{"name": "x"}, got.Metadata)
}
