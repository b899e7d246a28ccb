// Package amqptransport is the RabbitMQ messaging.Transport, on
// github.com/rabbitmq/amqp091-go directly: its publisher and subscribers
// replace watermill-amqp's, whose reconnection loses pooled channels
// (publisher) and races on the connection state (subscriber).
//
// Lanes (package lane): the transactional lane's handlers have their own
// concurrency (LaneSubscriber) and its messages their own publishing
// connection and channels (LanePublisher), so that a mailing holds nothing
// a code waits for; the consume connection is shared, each subscription on
// a channel of its own.
//
// Topology: every topic is a durable fanout exchange named after it, and
// every handler consumes from its own durable queue "<topic>_<handler>"
// bound to that exchange. An event therefore reaches each of its handlers
// once, a command its single handler once, and replicas of the same
// handler share its queue as competing consumers. Messages are persistent
// and published with confirms over a pool of channels.
//
// The publisher declares only exchanges: a message published before its
// handler's queue exists is dropped by the broker, so every handler's queue
// is declared at start with Initialize.
//
// The queues of the poison topic (messaging.PoisonTopic) keep a message
// for Config.PoisonTTL at most, since poisoned messages can hold emails and
// phone numbers: each is declared with it as its x-message-ttl, and every
// message published to the poison topic carries it as its expiration too.
// RabbitMQ refuses to declare an existing queue again with other arguments
// (PRECONDITION_FAILED, which closes the channel), so a poison queue
// declared by a version without the TTL, or with another one, is kept as it
// is and reported; the expiration of each message still bounds how long
// the newer ones stay (see declarePoisonQueue).
package amqptransport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
)

// Defaults of Config, chosen from this package's benchmarks (bench_test.go:
// 1 KB persistent messages, RabbitMQ 3.10 on the same 2-CPU machine).
// Publishing with confirms from 16 goroutines: 1 channel ~2,300 msg/s,
// 8 channels ~7,700, 16 channels ~11,400. Draining a queue through one
// subscriber: prefetch 1 ~9,600 msg/s, 20 ~25,900, 50 ~30,300, 200
// ~35,600. Prefetch 20 takes most of the gain while a replica holds few
// messages that other replicas could be handling.
const (
	DefaultPublishChannels          = 8
	DefaultPrefetch                 = 20
	DefaultConcurrency              = 1
	DefaultReconnectInitialInterval = 500 * time.Millisecond
	DefaultReconnectMaxInterval     = 10 * time.Second
	DefaultPublishTimeout           = 30 * time.Second
	DefaultCloseTimeout             = 30 * time.Second
	DefaultPoisonTTL                = messaging.DefaultPoisonTTL
	// DefaultTransactionalPublishChannels: codes come one at a time.
	DefaultTransactionalPublishChannels = 2
)

// DefaultExternal is the exchange the event intake consumes when
// Config.External is nil.
var DefaultExternal = []string{"notifier.events"}

// Config configures the transport.
type Config struct {
	// URL is the RabbitMQ URL, such as amqp://user:pass@host:5672/vhost.
	URL string
	// Prefix is prepended to every exchange and queue name the transport
	// creates: "" in production, a unique name in tests so that parallel
	// test packages never share a queue.
	Prefix string
	// External lists exchanges that other services publish to; they are
	// used as named, without Prefix. Nil means DefaultExternal.
	External []string
	// PublishChannels is the size of the pool of publishing channels,
	// each in confirm mode: at most that many publishes wait for their
	// confirmation at once. Zero means DefaultPublishChannels.
	PublishChannels int
	// Prefetch is how many unacknowledged messages the broker pushes to
	// each handler ahead of its processing. Zero means DefaultPrefetch.
	Prefetch int
	// Concurrency is how many messages each handler processes at once
	// (in this process). Zero means DefaultConcurrency.
	Concurrency int
	// ReconnectInitialInterval and ReconnectMaxInterval bound the
	// exponential backoff (factor 2, jitter ±50%) between attempts to
	// reconnect after the broker drops a connection. Reconnection never
	// gives up. Zero means the defaults.
	ReconnectInitialInterval time.Duration
	ReconnectMaxInterval     time.Duration
	// PublishTimeout bounds how long a publish waits for a free channel
	// and for the broker's confirmation. Zero means DefaultPublishTimeout.
	PublishTimeout time.Duration
	// CloseTimeout bounds how long closing a subscriber waits for the
	// messages in flight to be acked or nacked; it should exceed how long
	// a handler goes on after its context ends. Zero means
	// DefaultCloseTimeout.
	CloseTimeout time.Duration
	// PoisonTTL is how long a message of the poison topic stays in the
	// queues bound to it, a whole number of milliseconds; poisoned
	// messages can hold personal data. Zero means DefaultPoisonTTL.
	PoisonTTL time.Duration
	// TransactionalPublishChannels is the size of the channel pool of the
	// transactional lane's publisher (LanePublisher), which has a
	// connection of its own. Zero means DefaultTransactionalPublishChannels.
	TransactionalPublishChannels int
	// TransactionalConcurrency is Concurrency for the handlers of the
	// transactional lane (LaneSubscriber). Zero means Concurrency.
	TransactionalConcurrency int
}

func (c *Config) setDefaults() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("empty URL"))
	}
	if c.PublishChannels < 0 {
		errs = append(errs, fmt.Errorf("publish channels %d: must not be negative", c.PublishChannels))
	}
	if c.Prefetch < 0 {
		errs = append(errs, fmt.Errorf("prefetch %d: must not be negative", c.Prefetch))
	}
	if c.Concurrency < 0 || c.TransactionalConcurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency %d, transactional %d: must not be negative", c.Concurrency, c.TransactionalConcurrency))
	}
	if c.TransactionalPublishChannels < 0 {
		errs = append(errs, fmt.Errorf("transactional publish channels %d: must not be negative", c.TransactionalPublishChannels))
	}
	if c.ReconnectInitialInterval < 0 || c.ReconnectMaxInterval < 0 || c.PublishTimeout < 0 || c.CloseTimeout < 0 {
		errs = append(errs, errors.New("reconnect intervals, publish and close timeouts must not be negative"))
	}
	if c.PoisonTTL < 0 || (c.PoisonTTL > 0 && c.PoisonTTL < time.Millisecond) {
		errs = append(errs, fmt.Errorf("poison TTL %s: must be at least 1ms", c.PoisonTTL))
	}
	if c.External == nil {
		c.External = DefaultExternal
	}
	if slices.Contains(c.External, "") {
		errs = append(errs, errors.New("empty external exchange name"))
	}
	if c.PublishChannels == 0 {
		c.PublishChannels = DefaultPublishChannels
	}
	if c.Prefetch == 0 {
		c.Prefetch = DefaultPrefetch
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.TransactionalConcurrency == 0 {
		c.TransactionalConcurrency = c.Concurrency
	}
	if c.TransactionalPublishChannels == 0 {
		c.TransactionalPublishChannels = DefaultTransactionalPublishChannels
	}
	if c.ReconnectInitialInterval == 0 {
		c.ReconnectInitialInterval = DefaultReconnectInitialInterval
	}
	if c.ReconnectMaxInterval == 0 {
		c.ReconnectMaxInterval = DefaultReconnectMaxInterval
	}
	c.ReconnectMaxInterval = max(c.ReconnectMaxInterval, c.ReconnectInitialInterval)
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.PoisonTTL == 0 {
		c.PoisonTTL = DefaultPoisonTTL
	}
	return errors.Join(errs...)
}

// Transport is the RabbitMQ messaging.Transport. It holds two connections,
// one for publishing and one shared by every handler's consumer, so that
// broker flow control on publishers never stalls consumption; both are
// dialled again, with jittered exponential backoff, after the broker drops
// them.
type Transport struct {
	cfg      Config
	external map[string]bool
	logger   watermill.LoggerAdapter

	publisher *publisher
	// transactional is the transactional lane's publisher, on a
	// connection of its own.
	transactional *publisher
	consumers     *redialer
	consuming     consuming // what its subscribers share

	// reported holds the poison queues reported as kept without the
	// TTL, so that each is reported once.
	reported sync.Map

	mu          sync.Mutex // guards the fields below
	subscribers []*subscriber
	closed      bool
}

var _ messaging.Transport = (*Transport)(nil)

// New connects to RabbitMQ and returns the transport. It returns an error
// when cfg is invalid or the broker cannot be reached.
func New(cfg Config, logger watermill.LoggerAdapter) (*Transport, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("amqp transport config: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	t := &Transport{cfg: cfg, logger: logger, external: make(map[string]bool, len(cfg.External))}
	for _, name := range cfg.External {
		t.external[name] = true
	}
	backoff := jitteredBackoff(cfg.ReconnectInitialInterval, cfg.ReconnectMaxInterval)

	t.consumers = newRedialer("consume", t.dialer("consume"), backoff, logger)
	if _, _, err := t.consumers.connection(); err != nil {
		return nil, fmt.Errorf("connect consumers: %w", err)
	}
	t.consuming = consuming{conn: t.consumers, declare: t.declareQueue, prefetch: cfg.Prefetch, concurrency: cfg.Concurrency,
		backoff: backoff, closeTimeout: cfg.CloseTimeout, logger: logger}
	t.publisher = newPublisher(cfg.PublishChannels, cfg.PublishTimeout,
		newRedialer("publish", t.dialer("publish"), backoff, logger), t.ExchangeName, declareExchange, t.expiration)
	if err := t.publisher.Ping(); err != nil {
		return nil, errors.Join(fmt.Errorf("connect publisher: %w", err), t.consumers.close())
	}
	t.transactional = newPublisher(cfg.TransactionalPublishChannels, cfg.PublishTimeout,
		newRedialer("publish-transactional", t.dialer("publish-transactional"), backoff, logger), t.ExchangeName, declareExchange, t.expiration)
	if err := t.transactional.Ping(); err != nil {
		return nil, errors.Join(fmt.Errorf("connect transactional publisher: %w", err), t.publisher.Close(), t.consumers.close())
	}
	return t, nil
}

// dialer dials a connection named "<prefix>notifier-<role>", which is what
// operators see in the broker's connection list.
func (t *Transport) dialer(role string) func() (*amqp.Connection, error) {
	return func() (*amqp.Connection, error) {
		props := amqp.NewConnectionProperties() // the client adds to it: one per dial
		props.SetClientConnectionName(t.cfg.Prefix + "notifier-" + role)
		return amqp.DialConfig(t.cfg.URL, amqp.Config{Properties: props})
	}
}

// declareExchange declares the durable fanout exchange named name.
func declareExchange(ch *amqp.Channel, name string) error {
	return ch.ExchangeDeclare(name, amqp.ExchangeFanout, true, false, false, false, nil)
}

// declareQueue declares the durable queue of the handler named handlerName
// for topic and binds it to the topic's exchange, which it declares too.
func (t *Transport) declareQueue(ch *amqp.Channel, topic, handlerName string) (string, error) {
	exchange, queue := t.ExchangeName(topic), t.QueueName(topic, handlerName)
	if err := declareExchange(ch, exchange); err != nil {
		return "", fmt.Errorf("declare exchange %s: %w", exchange, err)
	}
	if topic == messaging.PoisonTopic {
		if err := t.declarePoisonQueue(ch, queue); err != nil {
			return "", err
		}
	} else if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		return "", fmt.Errorf("declare queue %s: %w", queue, err)
	}
	if err := ch.QueueBind(queue, "", exchange, false, nil); err != nil {
		return "", fmt.Errorf("bind queue %s to %s: %w", queue, exchange, err)
	}
	return queue, nil
}

// declarePoisonQueue declares queue, of the poison topic, with the poison
// TTL as its x-message-ttl. The declaration is tried on a channel of its
// own, since RabbitMQ answers PRECONDITION_FAILED, and closes the channel,
// when the queue exists with other arguments: declared by a version of
// Notifier without the TTL, or with another poison TTL. Such a queue is
// kept as it is (declared passively on ch) and reported once as an error
// that says what to do; the messages published from now on still expire
// after the TTL (see expiration) once those ahead of them in the queue are
// gone.
func (t *Transport) declarePoisonQueue(ch *amqp.Channel, queue string) error {
	conn, _, err := t.consumers.connection()
	if err != nil {
		return fmt.Errorf("declare queue %s: %w", queue, err)
	}
	probe, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("declare queue %s: open channel: %w", queue, err)
	}
	args := amqp.Table{"x-message-ttl": t.cfg.PoisonTTL.Milliseconds()}
	_, err = probe.QueueDeclare(queue, true, false, false, false, args)
	if err == nil {
		return probe.Close()
	}
	_ = probe.Close() // already closed by the broker when it refused
	var refused *amqp.Error
	if !errors.As(err, &refused) || refused.Code != amqp.PreconditionFailed {
		return fmt.Errorf("declare queue %s: %w", queue, err)
	}
	if _, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %s: %w", queue, err)
	}
	if _, seen := t.reported.LoadOrStore(queue, true); !seen {
		t.logger.Error("Poison queue kept without the configured TTL", refused, watermill.LogFields{
			"queue": queue,
			"ttl":   t.cfg.PoisonTTL.String(),
			"fix": "its messages published from now on expire after the TTL once those ahead of them are gone; " +
				"to expire the older ones too, apply a message-ttl policy to it, or delete it (after saving what it holds) " +
				"so that it is declared again with the TTL",
		})
	}
	return nil
}

// expiration returns the AMQP expiration of the messages published to
// topic: the poison TTL in milliseconds for the poison topic, else none.
func (t *Transport) expiration(topic string) string {
	if topic != messaging.PoisonTopic {
		return ""
	}
	return strconv.FormatInt(t.cfg.PoisonTTL.Milliseconds(), 10)
}

// ExchangeName returns the exchange of topic: topic itself for an external
// exchange, else the prefixed topic.
func (t *Transport) ExchangeName(topic string) string {
	if t.external[topic] {
		return topic
	}
	return t.cfg.Prefix + topic
}

// QueueName returns the queue the handler named handlerName consumes
// topic from: "<prefix><topic>_<handlerName>".
func (t *Transport) QueueName(topic, handlerName string) string {
	return t.cfg.Prefix + topic + "_" + handlerName
}

// Publisher implements messaging.Transport. Publish returns once the broker
// has confirmed every message (persistent, on the topic's exchange, which
// it declares); it fails with ErrNotConnected while the broker cannot be
// reached.
func (t *Transport) Publisher() message.Publisher { return t.publisher }

// LanePublisher returns the publisher of lane l: for the transactional
// lane one on a connection and channels of its own
// (Config.TransactionalPublishChannels), so that its messages never wait
// for a channel, or for the broker's flow control of a connection, that
// bulk publishing holds; Publisher for any other.
func (t *Transport) LanePublisher(l string) message.Publisher {
	if l == lane.Transactional {
		return t.transactional
	}
	return t.publisher
}

// Subscriber implements messaging.Transport: the subscriber of the handler
// named handlerName, consuming each topic from the handler's own queue,
// which it declares and binds on Subscribe. It also implements
// message.SubscribeInitializer.
func (t *Transport) Subscriber(handlerName string) (message.Subscriber, error) {
	return t.subscriber(handlerName, t.consuming)
}

// LaneSubscriber implements messaging.LaneSubscriber: Subscriber, handing
// over Config.TransactionalConcurrency messages at once for a handler of
// the transactional lane.
func (t *Transport) LaneSubscriber(handlerName, l string) (message.Subscriber, error) {
	c := t.consuming
	if l == lane.Transactional {
		c.concurrency = t.cfg.TransactionalConcurrency
	}
	return t.subscriber(handlerName, c)
}

func (t *Transport) subscriber(handlerName string, c consuming) (message.Subscriber, error) {
	if handlerName == "" {
		return nil, errors.New("subscriber: empty handler name")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("subscriber %s: %w", handlerName, errClosed)
	}
	sub := newSubscriber(handlerName, c)
	t.subscribers = append(t.subscribers, sub)
	return sub, nil
}

// Initialize declares the exchange of topic and the queue of the handler
// named handlerName, bound to it, so that messages published from now on
// wait in the queue until the handler consumes them. It is idempotent; call
// it for every handler before anything is published.
func (t *Transport) Initialize(topic, handlerName string) error {
	if handlerName == "" {
		return errors.New("initialize: empty handler name")
	}
	return t.consuming.initialize(topic, handlerName)
}

// Ping reports whether the broker answers on both connections (each
// dialled again if it was lost and the backoff allows) by opening and
// closing a channel, or ctx ends. Use it for readiness.
func (t *Transport) Ping(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		var errs []error
		if err := t.publisher.Ping(); err != nil {
			errs = append(errs, fmt.Errorf("publish connection: %w", err))
		}
		if err := t.transactional.Ping(); err != nil {
			errs = append(errs, fmt.Errorf("transactional publish connection: %w", err))
		}
		if err := t.consumers.ping(); err != nil {
			errs = append(errs, fmt.Errorf("consume connection: %w", err))
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ping: %w", ctx.Err())
	}
}

// Close implements messaging.Transport: it closes every subscriber at once
// (each waits for its messages in flight, see Config.CloseTimeout), then
// both connections. Close the router first so that in-flight handlers
// finish and ack.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	subs := t.subscribers
	t.subscribers = nil
	t.mu.Unlock()

	errs := make([]error, len(subs), len(subs)+2)
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Go(func() { errs[i] = sub.Close() })
	}
	wg.Wait()
	errs = append(errs, t.consumers.close(), t.publisher.Close(), t.transactional.Close())
	return errors.Join(errs...)
}
