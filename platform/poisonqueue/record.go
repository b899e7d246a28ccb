package poisonqueue

import (
	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/notifier/notifier/platform/clock"
)

// RecorderName is the name of the poison topic's handler that fills the
// store: its queue on RabbitMQ, its consumer group in the SQL transport.
const RecorderName = "platform.RecordPoisoned"

// recorder keeps entries (Store.Record).
type recorder interface {
	Record(ctx context.Context, m Message) error
}

// RecordPoisoned keeps every poisoned message for operators.
type RecordPoisoned struct {
	store recorder
	clock clock.Clock
}

// NewRecordPoisoned returns the handler; store and c are required.
func NewRecordPoisoned(store recorder, c clock.Clock) (*RecordPoisoned, error) {
	if store == nil || c == nil {
		return nil, errors.New("new record poisoned: store and clock are required")
	}
	return &RecordPoisoned{store: store, clock: c}, nil
}

// Handle records msg, a message of the poison topic; it is the handler
// messaging.AddPoisonHandler runs. A redelivered message changes nothing
// (the same entry, the same poisoning time); the same message refused
// again by the same handler replaces its entry. Its error is the store's:
// a failure to reach the database has msg redelivered.
func (h *RecordPoisoned) Handle(msg *message.Message) error {
	return h.store.Record(msg.Context(), FromMessage(msg, h.clock.Now()))
}
