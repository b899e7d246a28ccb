package amqptransport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// MessageIDKey is the metadata key that carries the AMQP message_id of a
// consumed message (the intake's second source of an event key).
const MessageIDKey = "message_id"

// uuidHeader is where Watermill's default AMQP marshaler puts the UUID.
const uuidHeader = "_watermill_message_uuid"

// Marshaler maps Watermill messages to AMQP publishings and back. It is the
// one marshaler of the transport's publisher and consumers.
//
// Marshal sends the payload as the body, the message UUID as the AMQP
// message_id, the metadata as string headers, persistently.
//
// Unmarshal accepts any delivery, including plain JSON published by a
// client that knows nothing of Watermill: the UUID is the AMQP message_id
// (else the UUID header of Watermill's default AMQP marshaler, else a new
// UUID); every header becomes metadata, non-string values rendered stably
// (numbers in decimal, tables and arrays such as x-death as JSON); and the
// message_id metadata is the AMQP message_id unless a message_id header
// says otherwise. It never fails.
type Marshaler struct{}

// Marshal returns the publishing of msg; it never fails.
func (Marshaler) Marshal(msg *message.Message) (amqp.Publishing, error) {
	headers := make(amqp.Table, len(msg.Metadata))
	for k, v := range msg.Metadata {
		headers[k] = v
	}
	return amqp.Publishing{
		MessageId:    msg.UUID,
		Headers:      headers,
		Body:         msg.Payload,
		DeliveryMode: amqp.Persistent,
	}, nil
}

// Unmarshal returns the message of d; it never fails.
func (Marshaler) Unmarshal(d amqp.Delivery) (*message.Message, error) { return unmarshal(d), nil }

func unmarshal(d amqp.Delivery) *message.Message {
	id := d.MessageId
	if id == "" {
		if s, ok := d.Headers[uuidHeader].(string); ok {
			id = s
		}
	}
	if id == "" {
		id = watermill.NewUUID()
	}
	msg := message.NewMessage(id, d.Body)
	msg.Metadata = make(message.Metadata, len(d.Headers)+1)
	for k, v := range d.Headers {
		if k == uuidHeader {
			continue
		}
		msg.Metadata[k] = headerString(v)
	}
	if d.MessageId != "" && msg.Metadata[MessageIDKey] == "" {
		msg.Metadata[MessageIDKey] = d.MessageId
	}
	return msg
}

// headerString renders an AMQP header value as a string: strings as they
// are, numbers and booleans as Go formats them, times in RFC 3339 (UTC),
// everything else (tables, arrays) as JSON.
func headerString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
	case bool:
		return strconv.FormatBool(v)
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return fmt.Sprint(v)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
