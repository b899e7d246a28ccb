package pgtransport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/lane"
)

// OutboxTopic is the table-backed topic the outbox writes to; the
// transactional lane's, when it has one of its own, is
// TransactionalOutboxTopic.
const (
	OutboxTopic              = "notifier.outbox"
	TransactionalOutboxTopic = "notifier.outbox.transactional"
)

// Outbox publishes the messages of a unit of work into an outbox table in
// the same transaction, and forwards them to the broker once committed
// (Watermill's components/forwarder). Forwarded rows are deleted. A
// message published outside a unit of work goes to the broker at once.
//
// With WithTransactionalLane, the messages of the transactional lane (their
// lane metadata, package lane) go to a table of their own, forwarded by a
// forwarder of their own that polls on the lane's own connections and
// publishes through the lane's own broker publisher: a mailing's backlog in
// the outbox never delays a code.
type Outbox struct {
	lanes  map[string]*outboxLane
	logger watermill.LoggerAdapter
	poll   time.Duration

	running     chan struct{}
	runningOnce sync.Once
}

// outboxLane is the table and the forwarder of one lane.
type outboxLane struct {
	name      string
	topic     string
	pool      *pgxpool.Pool
	broker    message.Publisher
	schema    wsql.PostgreSQLQueueSchema
	forwarder *forwarder.Forwarder
}

// OutboxOption configures an Outbox.
type OutboxOption func(*Outbox) error

// WithTransactionalLane gives the transactional lane a table
// (TransactionalOutboxTopic) and a forwarder of its own, reading on pool
// every pollInterval (the Outbox's when zero) and publishing to broker.
func WithTransactionalLane(pool *pgxpool.Pool, broker message.Publisher, pollInterval time.Duration) OutboxOption {
	return func(o *Outbox) error {
		if pollInterval <= 0 {
			pollInterval = o.poll
		}
		l, err := o.newLane(lane.Transactional, TransactionalOutboxTopic, pool, broker, pollInterval)
		if err != nil {
			return err
		}
		o.lanes[lane.Transactional] = l
		return nil
	}
}

// NewOutbox returns an Outbox on pool forwarding to broker, looking for
// committed rows every pollInterval (the latency it adds to each hop when
// idle; 20ms if zero).
func NewOutbox(pool *pgxpool.Pool, broker message.Publisher, pollInterval time.Duration, logger watermill.LoggerAdapter, opts ...OutboxOption) (*Outbox, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if pollInterval <= 0 {
		pollInterval = 20 * time.Millisecond
	}
	o := &Outbox{lanes: map[string]*outboxLane{}, logger: logger, poll: pollInterval, running: make(chan struct{})}
	bulk, err := o.newLane(lane.Bulk, OutboxTopic, pool, broker, pollInterval)
	if err != nil {
		return nil, err
	}
	o.lanes[lane.Bulk] = bulk
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func (o *Outbox) newLane(name, topic string, pool *pgxpool.Pool, broker message.Publisher, poll time.Duration) (*outboxLane, error) {
	if pool == nil || broker == nil {
		return nil, fmt.Errorf("outbox %s: pool and broker publisher are required", name)
	}
	l := &outboxLane{
		name:   name,
		topic:  topic,
		pool:   pool,
		broker: broker,
		schema: wsql.PostgreSQLQueueSchema{GenerateMessagesTableName: messagesTable, GeneratePayloadType: bytea},
	}
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), wsql.SubscriberConfig{
		PollInterval:     poll,
		ResendInterval:   poll,
		SchemaAdapter:    l.schema,
		OffsetsAdapter:   wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true, GenerateMessagesTableName: messagesTable},
		InitializeSchema: true,
	}, o.logger)
	if err != nil {
		return nil, fmt.Errorf("outbox %s subscriber: %w", name, err)
	}
	if err := sub.SubscribeInitialize(topic); err != nil {
		return nil, fmt.Errorf("outbox %s table: %w", name, err)
	}
	l.forwarder, err = forwarder.NewForwarder(sub, broker, o.logger, forwarder.Config{ForwarderTopic: topic})
	if err != nil {
		return nil, fmt.Errorf("outbox %s forwarder: %w", name, err)
	}
	return l, nil
}

// laneOf returns the outbox lane of msg: the transactional lane's when
// msg is transactional and that lane has its own, else the bulk lane's.
func (o *Outbox) laneOf(msg *message.Message) *outboxLane {
	if l, ok := o.lanes[lane.OfMessage(msg)]; ok {
		return l
	}
	return o.lanes[lane.Bulk]
}

// Publish implements message.Publisher. Messages of different lanes go to
// their lanes' tables, in the same transaction.
func (o *Outbox) Publish(topic string, msgs ...*message.Message) error {
	var byLane map[*outboxLane][]*message.Message
	for _, msg := range msgs {
		l := o.laneOf(msg)
		if byLane == nil {
			byLane = make(map[*outboxLane][]*message.Message, 1)
		}
		byLane[l] = append(byLane[l], msg)
	}
	for l, group := range byLane {
		if err := l.publish(topic, group, o.logger); err != nil {
			return err
		}
	}
	return nil
}

func (l *outboxLane) publish(topic string, msgs []*message.Message, logger watermill.LoggerAdapter) error {
	exec, inTx, err := txOf(msgs)
	if err != nil {
		return err
	}
	if !inTx {
		return l.broker.Publish(topic, msgs...)
	}
	pub, err := wsql.NewPublisher(exec, wsql.PublisherConfig{SchemaAdapter: l.schema}, logger)
	if err != nil {
		return err
	}
	return forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: l.topic}).Publish(topic, msgs...)
}

// Close implements message.Publisher; it does not close the broker.
func (o *Outbox) Close() error { return nil }

// Run forwards committed messages of every lane until ctx ends or Stop;
// it returns when every lane's forwarder has stopped.
func (o *Outbox) Run(ctx context.Context) error {
	errs := make(chan error, len(o.lanes))
	for _, l := range o.lanes {
		go func() {
			if err := l.forwarder.Run(ctx); err != nil {
				errs <- fmt.Errorf("outbox %s: %w", l.name, err)
				return
			}
			errs <- nil
		}()
	}
	go func() {
		for _, l := range o.lanes {
			select {
			case <-l.forwarder.Running():
			case <-ctx.Done():
				return
			}
		}
		o.runningOnce.Do(func() { close(o.running) })
	}()
	var all []error
	for range o.lanes {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// Running is closed once every lane's forwarder runs.
func (o *Outbox) Running() chan struct{} { return o.running }

// Stop stops forwarding.
func (o *Outbox) Stop() error {
	var errs []error
	for _, l := range o.lanes {
		errs = append(errs, l.forwarder.Close())
	}
	return errors.Join(errs...)
}
