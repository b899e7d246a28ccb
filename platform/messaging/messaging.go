// Package messaging is Notifier's Watermill plumbing: the router with its
// middlewares (poison queue, retries, deduplication), the CQRS command and
// event buses, and the transports they run on. Modules only see the small
// interfaces they declare themselves (Send, Publish) and contribute handlers.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/notifier/notifier/platform/clock"
)

// PoisonTopic receives every message that cannot be processed, with the
// reason in its "reason_poisoned" metadata.
const PoisonTopic = "notifier.poison"

// Config tunes the router.
type Config struct {
	// MaxRetries is how many times a failing handler is retried in place
	// before the message goes to the poison queue.
	MaxRetries int
	// RetryInterval is the first retry delay; it doubles up to RetryMaxInterval.
	RetryInterval    time.Duration
	RetryMaxInterval time.Duration
	// CloseTimeout bounds how long Close waits for in-flight handlers.
	CloseTimeout time.Duration
	// UnitOfWork, when set, wraps every handler (inside the retries,
	// outside deduplication), such as the PostgreSQL transaction of
	// UnitOfWork(pool).
	UnitOfWork message.HandlerMiddleware
	// Clock stamps every command and event the buses send with its
	// PublishedAt time; nil means the system clock.
	Clock clock.Clock
}

func (c *Config) setDefaults() {
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.RetryMaxInterval == 0 {
		c.RetryMaxInterval = 5 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
}

// Transport is what the buses publish to and subscribe from.
type Transport interface {
	Publisher() message.Publisher
	// Subscriber returns the subscriber a handler consumes from; transports
	// with queues (AMQP) give each handler its own queue.
	Subscriber(handlerName string) (message.Subscriber, error)
	Close() error
}

// Initializer is implemented by transports that must declare a handler's
// queue (or table) before anything is published to its topic, or lose
// what is published early.
type Initializer interface {
	Initialize(topic, handlerName string) error
}

// SkipsDeduplication is implemented by handlers that are idempotent by
// their own means and must not be deduplicated by message key.
type SkipsDeduplication interface {
	SkipDeduplication() bool
}

// RawHandler consumes a topic that does not carry CQRS messages (such as
// the external events exchange).
type RawHandler struct {
	Name   string
	Topic  string
	Handle message.NoPublishHandlerFunc
	// Key derives the deduplication key; nil means the message UUID.
	Key KeyFunc
}

// Messaging owns the router and the buses.
type Messaging struct {
	router    *message.Router
	transport Transport
	commands  *cqrs.CommandBus
	events    *cqrs.EventBus
	cmdProc   *cqrs.CommandProcessor
	evtProc   *cqrs.EventProcessor
	dedup     *Dedup
	logger    *slog.Logger
}

var (
	handledTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notifier_messages_handled_total",
		Help: "Messages handled, by handler and result (ok, error).",
	}, []string{"handler", "result"})
	poisonedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notifier_messages_poisoned_total",
		Help: "Messages sent to the poison queue, by handler.",
	}, []string{"handler"})
)

func init() {
	prometheus.MustRegister(handledTotal, poisonedTotal)
}

// New builds the router, buses and processors on transport. Handlers are
// added before Run.
func New(cfg Config, transport Transport, keys KeyStore, logger *slog.Logger) (*Messaging, error) {
	cfg.setDefaults()
	if transport == nil || keys == nil || logger == nil {
		return nil, errors.New("messaging: transport, key store and logger are required")
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, wlog)
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	m := &Messaging{router: router, transport: transport, dedup: NewDedup(keys), logger: logger}

	poison, err := middleware.PoisonQueue(transport.Publisher(), PoisonTopic)
	if err != nil {
		return nil, fmt.Errorf("poison queue: %w", err)
	}
	retry := middleware.Retry{
		MaxRetries:          cfg.MaxRetries,
		InitialInterval:     cfg.RetryInterval,
		MaxInterval:         cfg.RetryMaxInterval,
		Multiplier:          2,
		RandomizationFactor: 0.2,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !IsPermanent(p.Err) },
		Logger:              wlog,
	}
	middlewares := []message.HandlerMiddleware{m.observe, poison, retry.Middleware, middleware.Recoverer}
	if cfg.UnitOfWork != nil {
		middlewares = append(middlewares, cfg.UnitOfWork)
	}
	router.AddMiddleware(append(middlewares, m.dedup.Middleware)...)

	marshaler := Marshaler()
	stamp := func(msg *message.Message) error {
		msg.Metadata.Set(PublishedAtKey, cfg.Clock.Now().UTC().Format(time.RFC3339Nano))
		return nil
	}
	m.commands, err = cqrs.NewCommandBusWithConfig(transport.Publisher(), cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			route := ""
			if r, ok := p.Command.(Routed); ok {
				route = r.RouteKey()
			}
			return CommandTopic(p.CommandName, route), nil
		},
		OnSend:    func(p cqrs.CommandBusOnSendParams) error { return stamp(p.Message) },
		Marshaler: marshaler,
		Logger:    wlog,
	})
	if err != nil {
		return nil, fmt.Errorf("command bus: %w", err)
	}
	m.events, err = cqrs.NewEventBusWithConfig(transport.Publisher(), cqrs.EventBusConfig{
		GeneratePublishTopic: func(p cqrs.GenerateEventPublishTopicParams) (string, error) {
			return EventTopic(p.EventName), nil
		},
		OnPublish: func(p cqrs.OnEventSendParams) error { return stamp(p.Message) },
		Marshaler: marshaler,
		Logger:    wlog,
	})
	if err != nil {
		return nil, fmt.Errorf("event bus: %w", err)
	}
	m.cmdProc, err = cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return commandHandlerTopic(p.CommandName, p.CommandHandler), nil
		},
		SubscriberConstructor: func(p cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			if err := m.initialize(commandHandlerTopic(p.CommandName, p.Handler), p.HandlerName); err != nil {
				return nil, err
			}
			return transport.Subscriber(p.HandlerName)
		},
		Marshaler: marshaler,
		Logger:    wlog,
	})
	if err != nil {
		return nil, fmt.Errorf("command processor: %w", err)
	}
	m.evtProc, err = cqrs.NewEventProcessorWithConfig(router, cqrs.EventProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.EventProcessorGenerateSubscribeTopicParams) (string, error) {
			return EventTopic(p.EventName), nil
		},
		SubscriberConstructor: func(p cqrs.EventProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			if err := m.initialize(EventTopic(p.EventName), p.HandlerName); err != nil {
				return nil, err
			}
			return transport.Subscriber(p.HandlerName)
		},
		// One topic per event type already; this only guards against
		// a stray message redelivering forever.
		AckOnUnknownEvent: true,
		Marshaler:         marshaler,
		Logger:            wlog,
	})
	if err != nil {
		return nil, fmt.Errorf("event processor: %w", err)
	}
	return m, nil
}

func commandHandlerTopic(commandName string, h cqrs.CommandHandler) string {
	route := ""
	if r, ok := h.(RouteKeyed); ok {
		route = r.RouteKey()
	}
	return CommandTopic(commandName, route)
}

// initialize declares a handler's queue when the transport needs it.
func (m *Messaging) initialize(topic, handlerName string) error {
	if in, ok := m.transport.(Initializer); ok {
		if err := in.Initialize(topic, handlerName); err != nil {
			return fmt.Errorf("initialize %s for %s: %w", topic, handlerName, err)
		}
	}
	return nil
}

func noKey(string, *message.Message) (string, error) { return "", nil }

// observe counts handled and poisoned messages. It is the outermost
// middleware, so it sees what the poison queue middleware made of an error.
func (m *Messaging) observe(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		name := message.HandlerNameFromCtx(msg.Context())
		out, err := h(msg)
		if err != nil {
			handledTotal.WithLabelValues(name, "error").Inc()
			return out, err
		}
		handledTotal.WithLabelValues(name, "ok").Inc()
		return out, nil
	}
}

// CommandBus sends commands.
func (m *Messaging) CommandBus() *cqrs.CommandBus { return m.commands }

// EventBus publishes events.
func (m *Messaging) EventBus() *cqrs.EventBus { return m.events }

// Publisher is the raw publisher (the intake and tests use it to publish
// external, non-CQRS messages).
func (m *Messaging) Publisher() message.Publisher { return m.transport.Publisher() }

// AddCommandHandler registers a command handler.
func (m *Messaging) AddCommandHandler(h cqrs.CommandHandler) error {
	if s, ok := h.(SkipsDeduplication); ok && s.SkipDeduplication() {
		m.dedup.SetKeyFunc(h.HandlerName(), noKey)
	}
	if _, err := m.cmdProc.AddHandler(h); err != nil {
		return fmt.Errorf("add command handler %s: %w", h.HandlerName(), err)
	}
	return nil
}

// AddEventHandler registers an event handler; each gets its own
// subscription (its own queue on brokers).
func (m *Messaging) AddEventHandler(h cqrs.EventHandler) error {
	if s, ok := h.(SkipsDeduplication); ok && s.SkipDeduplication() {
		m.dedup.SetKeyFunc(h.HandlerName(), noKey)
	}
	if _, err := m.evtProc.AddHandler(h); err != nil {
		return fmt.Errorf("add event handler %s: %w", h.HandlerName(), err)
	}
	return nil
}

// AddRawHandler registers a handler of plain messages on a topic.
func (m *Messaging) AddRawHandler(h RawHandler) error {
	if err := m.initialize(h.Topic, h.Name); err != nil {
		return err
	}
	sub, err := m.transport.Subscriber(h.Name)
	if err != nil {
		return fmt.Errorf("subscriber for %s: %w", h.Name, err)
	}
	if h.Key != nil {
		m.dedup.SetKeyFunc(h.Name, h.Key)
	}
	m.router.AddConsumerHandler(h.Name, h.Topic, sub, h.Handle)
	return nil
}

// AddPoisonObserver registers a handler that sees every poisoned message,
// for logging, counting and tests. It is not deduplicated.
func (m *Messaging) AddPoisonObserver(name string, observe func(*message.Message)) error {
	if err := m.initialize(PoisonTopic, name); err != nil {
		return err
	}
	sub, err := m.transport.Subscriber(name)
	if err != nil {
		return fmt.Errorf("subscriber for %s: %w", name, err)
	}
	m.dedup.SetKeyFunc(name, noKey)
	m.router.AddConsumerHandler(name, PoisonTopic, sub, func(msg *message.Message) error {
		poisonedTotal.WithLabelValues(msg.Metadata.Get(middleware.PoisonedHandlerKey)).Inc()
		observe(msg)
		return nil
	})
	return nil
}

// RetainPoisoned declares a queue on the poison topic that nothing consumes,
// so that on a broker every poisoned message stays there for an operator
// to inspect (queue "<prefix>notifier.poison_retained"). Transports
// without queues need nothing.
func (m *Messaging) RetainPoisoned() error { return m.initialize(PoisonTopic, "retained") }

// Run runs the router until ctx ends or Close is called. Call it in a
// goroutine and wait for Running before accepting traffic.
func (m *Messaging) Run(ctx context.Context) error { return m.router.Run(ctx) }

// Running is closed once every handler is subscribed.
func (m *Messaging) Running() chan struct{} { return m.router.Running() }

// Close stops the router, waiting for in-flight handlers, then the transport.
func (m *Messaging) Close() error {
	return errors.Join(m.router.Close(), m.transport.Close())
}
