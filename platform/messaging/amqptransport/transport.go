// Package amqptransport is the RabbitMQ messaging.Transport: consumers
// are watermill-amqp v3 subscribers, publishing is the package's own (see
// publisher).
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
package amqptransport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/notifier/notifier/platform/messaging"
)

// Defaults of Config, chosen from this package's benchmarks (bench_test.go:
// 1 KB persistent messages, RabbitMQ 3.10 on the same 2-CPU machine).
// Publishing with confirms from 16 goroutines: 1 channel ~2,300 msg/s,
// 8 channels ~8,300, 16 channels ~9,300. Draining a queue through one
// subscriber: prefetch 1 ~7,700 msg/s, 20 ~18,000, 50 ~22,500, 200
// ~30,900. Prefetch 20 takes most of the gain while a replica holds few
// messages that other replicas could be handling.
const (
	DefaultPublishChannels          = 8
	DefaultPrefetch                 = 20
	DefaultReconnectInitialInterval = 500 * time.Millisecond
	DefaultReconnectMaxInterval     = 10 * time.Second
	DefaultPublishTimeout           = 30 * time.Second
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
	// ReconnectInitialInterval and ReconnectMaxInterval bound the
	// exponential backoff (factor 2, jitter ±50%) between attempts to
	// reconnect after the broker drops a connection. Reconnection never
	// gives up. Zero means the defaults.
	ReconnectInitialInterval time.Duration
	ReconnectMaxInterval     time.Duration
	// PublishTimeout bounds how long a publish waits for a free channel
	// and for the broker's confirmation. Zero means DefaultPublishTimeout.
	PublishTimeout time.Duration
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
	if c.ReconnectInitialInterval < 0 || c.ReconnectMaxInterval < 0 || c.PublishTimeout < 0 {
		errs = append(errs, errors.New("reconnect intervals and publish timeout must not be negative"))
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
	return errors.Join(errs...)
}

// Transport is the RabbitMQ messaging.Transport. It holds two connections,
// one for publishing and one shared by every handler's consumer, so that
// broker flow control on publishers never stalls consumption; both are
// re-established after the broker drops them.
type Transport struct {
	cfg      Config
	external map[string]bool
	logger   watermill.LoggerAdapter

	publisher *publisher
	consumers *wamqp.ConnectionWrapper

	mu          sync.Mutex
	subscribers []*wamqp.Subscriber
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

	var err error
	t.consumers, err = wamqp.NewConnection(t.connectionConfig("consume"), logger)
	if err != nil {
		return nil, fmt.Errorf("connect consumers: %w", err)
	}
	pubConn := t.connectionConfig("publish")
	declare := func(ch *amqp.Channel, exchange string) error {
		return (&wamqp.DefaultTopologyBuilder{}).ExchangeDeclare(ch, exchange, t.config(""))
	}
	t.publisher = newPublisher(cfg.PublishChannels, cfg.PublishTimeout,
		func() (*amqp.Connection, error) { return amqp.DialConfig(cfg.URL, *pubConn.AmqpConfig) },
		t.ExchangeName, declare, jitteredBackoff(cfg.ReconnectInitialInterval, cfg.ReconnectMaxInterval), logger)
	if err := t.publisher.Ping(); err != nil {
		return nil, errors.Join(fmt.Errorf("connect publisher: %w", err), t.consumers.Close())
	}
	return t, nil
}

// connectionConfig names the connection "<prefix>notifier-<role>", which
// is what operators see in the broker's connection list.
func (t *Transport) connectionConfig(role string) wamqp.ConnectionConfig {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(t.cfg.Prefix + "notifier-" + role)
	return wamqp.ConnectionConfig{
		AmqpURI:    t.cfg.URL,
		AmqpConfig: &amqp.Config{Properties: props},
		Reconnect: &wamqp.ReconnectConfig{
			BackoffInitialInterval:     t.cfg.ReconnectInitialInterval,
			BackoffRandomizationFactor: 0.5,
			BackoffMultiplier:          2,
			BackoffMaxInterval:         t.cfg.ReconnectMaxInterval,
		},
	}
}

// config is the watermill-amqp configuration of the handler named
// handlerName ("" for the publisher).
func (t *Transport) config(handlerName string) wamqp.Config {
	return wamqp.Config{
		Connection: wamqp.ConnectionConfig{AmqpURI: t.cfg.URL},
		Marshaler:  Marshaler{},
		Exchange: wamqp.ExchangeConfig{
			GenerateName: t.ExchangeName,
			Type:         "fanout",
			Durable:      true,
		},
		Queue: wamqp.QueueConfig{
			GenerateName: func(topic string) string { return t.QueueName(topic, handlerName) },
			Durable:      true,
		},
		QueueBind: wamqp.QueueBindConfig{GenerateRoutingKey: func(string) string { return "" }},
		Consume: wamqp.ConsumeConfig{
			Qos: wamqp.QosConfig{PrefetchCount: t.cfg.Prefetch},
		},
		TopologyBuilder: &wamqp.DefaultTopologyBuilder{},
	}
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
	return t.cfg.Prefix + wamqp.GenerateQueueNameTopicNameWithSuffix(handlerName)(topic)
}

// Publisher implements messaging.Transport. Publish returns once the broker
// has confirmed every message (persistent, on the topic's exchange, which
// it declares); it fails with ErrNotConnected while the broker cannot be
// reached.
func (t *Transport) Publisher() message.Publisher { return t.publisher }

// Subscriber implements messaging.Transport: the subscriber of the handler
// named handlerName, consuming each topic from the handler's own queue,
// which it declares and binds on Subscribe.
func (t *Transport) Subscriber(handlerName string) (message.Subscriber, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("subscriber: transport closed")
	}
	sub, err := t.newSubscriber(handlerName)
	if err != nil {
		return nil, err
	}
	t.subscribers = append(t.subscribers, sub)
	return sub, nil
}

func (t *Transport) newSubscriber(handlerName string) (*wamqp.Subscriber, error) {
	if handlerName == "" {
		return nil, errors.New("subscriber: empty handler name")
	}
	sub, err := wamqp.NewSubscriberWithConnection(t.config(handlerName), t.logger, t.consumers)
	if err != nil {
		return nil, fmt.Errorf("subscriber %s: %w", handlerName, err)
	}
	return sub, nil
}

// Initialize declares the exchange of topic and the queue of the handler
// named handlerName, bound to it, so that messages published from now on
// wait in the queue until the handler consumes them. It is idempotent; call
// it for every handler before anything is published.
func (t *Transport) Initialize(topic, handlerName string) error {
	sub, err := t.newSubscriber(handlerName)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Close() }()
	if err := sub.SubscribeInitialize(topic); err != nil {
		return fmt.Errorf("initialize %s for %s: %w", topic, handlerName, err)
	}
	return nil
}

// Ping reports whether the broker answers on the publishing connection
// (dialled again if it was lost) by opening and closing a channel, or ctx
// ends. Use it for readiness; consumers reconnect on their own.
func (t *Transport) Ping(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- t.publisher.Ping() }()
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

// Close implements messaging.Transport: it stops every subscriber, then
// closes both connections. Close the router first so that in-flight
// handlers finish and ack.
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

	var errs []error
	for _, sub := range subs {
		errs = append(errs, sub.Close())
	}
	errs = append(errs, t.consumers.Close(), t.publisher.Close())
	return errors.Join(errs...)
}
