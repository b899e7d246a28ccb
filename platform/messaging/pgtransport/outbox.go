package pgtransport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OutboxTopic is the table-backed topic the outbox writes to.
const OutboxTopic = "notifier.outbox"

// Outbox publishes the messages of a unit of work into an outbox table in
// the same transaction, and forwards them to the broker once committed
// (Watermill's components/forwarder). Forwarded rows are deleted. A
// message published outside a unit of work goes to the broker at once.
type Outbox struct {
	pool      *pgxpool.Pool
	broker    message.Publisher
	schema    wsql.PostgreSQLQueueSchema
	forwarder *forwarder.Forwarder
	logger    watermill.LoggerAdapter
}

// NewOutbox returns an Outbox on pool forwarding to broker, looking for
// committed rows every pollInterval (the latency it adds to each hop when
// idle; 20ms if zero).
func NewOutbox(pool *pgxpool.Pool, broker message.Publisher, pollInterval time.Duration, logger watermill.LoggerAdapter) (*Outbox, error) {
	if pool == nil || broker == nil {
		return nil, errors.New("outbox: pool and broker publisher are required")
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if pollInterval <= 0 {
		pollInterval = 20 * time.Millisecond
	}
	o := &Outbox{
		pool:   pool,
		broker: broker,
		schema: wsql.PostgreSQLQueueSchema{GenerateMessagesTableName: messagesTable, GeneratePayloadType: bytea},
		logger: logger,
	}
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), wsql.SubscriberConfig{
		PollInterval:     pollInterval,
		ResendInterval:   pollInterval,
		SchemaAdapter:    o.schema,
		OffsetsAdapter:   wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true, GenerateMessagesTableName: messagesTable},
		InitializeSchema: true,
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("outbox subscriber: %w", err)
	}
	if err := sub.SubscribeInitialize(OutboxTopic); err != nil {
		return nil, fmt.Errorf("outbox table: %w", err)
	}
	o.forwarder, err = forwarder.NewForwarder(sub, broker, logger, forwarder.Config{ForwarderTopic: OutboxTopic})
	if err != nil {
		return nil, fmt.Errorf("outbox forwarder: %w", err)
	}
	return o, nil
}

// Publish implements message.Publisher.
func (o *Outbox) Publish(topic string, msgs ...*message.Message) error {
	exec, inTx, err := txOf(msgs)
	if err != nil {
		return err
	}
	if !inTx {
		return o.broker.Publish(topic, msgs...)
	}
	pub, err := wsql.NewPublisher(exec, wsql.PublisherConfig{SchemaAdapter: o.schema}, o.logger)
	if err != nil {
		return err
	}
	return forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: OutboxTopic}).Publish(topic, msgs...)
}

// Close implements message.Publisher; it does not close the broker.
func (o *Outbox) Close() error { return nil }

// Run forwards committed messages until ctx ends or Close.
func (o *Outbox) Run(ctx context.Context) error { return o.forwarder.Run(ctx) }

// Running is closed once the forwarder runs.
func (o *Outbox) Running() chan struct{} { return o.forwarder.Running() }

// Stop stops forwarding.
func (o *Outbox) Stop() error { return o.forwarder.Close() }
