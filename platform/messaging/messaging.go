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
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/tracing"
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
	// Middlewares wrap every handler inside its unit of work, outside
	// deduplication, in order (the first outermost): faults and holds a
	// test injects.
	Middlewares []message.HandlerMiddleware
	// Clock stamps every command and event the buses send with its
	// PublishedAt time; nil means the system clock.
	Clock clock.Clock
	// Tracing, when on, carries the trace context of every command and
	// event the buses send in its metadata (traceparent, tracestate) and
	// gives every handler a consumer span, a child of the context its
	// message carries (tracing.go). Nil is off.
	Tracing *tracing.Provider
	// System is the messaging.system of the consumer spans: "rabbitmq",
	// "postgresql", "gochannel".
	System string
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

// LaneSubscriber is implemented by transports that give each lane
// resources of its own (handler concurrency, connections): the handlers of
// a lane get their subscribers from it.
type LaneSubscriber interface {
	LaneSubscriber(handlerName, lane string) (message.Subscriber, error)
}

// SkipsDeduplication is implemented by handlers that are idempotent by
// their own means and must not be deduplicated by message key.
type SkipsDeduplication interface {
	SkipDeduplication() bool
}

// Observer is implemented by event handlers that watch events another
// module's handler already consumes (the webhooks module watching
// delivery outcomes): each must get every message of the topic, beside
// that handler, whatever the transport. A topic's only consumer must not
// be an Observer: on the SQL transport its queue would fill with copies
// nobody takes.
type Observer interface {
	Observes() bool
}

// Observing is implemented by transports on which some topics hand each
// message to one consumer only (the SQL transport's queues of the
// transactional lane): Observe, called before the handler subscribes,
// gives an observer of topic a copy of each of its messages of its own.
type Observing interface {
	Observe(topic, handlerName string) error
}

// RawHandler consumes a topic that does not carry CQRS messages (such as
// the external events exchange).
type RawHandler struct {
	Name   string
	Topic  string
	Handle message.NoPublishHandlerFunc
	// Key derives the deduplication key; nil means the message UUID.
	Key KeyFunc
	// Lane is the lane whose resources the handler uses (package lane);
	// empty means bulk.
	Lane string
	// Accept, when set, picks the messages the handler handles: the others
	// are acknowledged as they arrive, before any middleware (no
	// transaction, no deduplication key). Several handlers of one topic
	// can so share its work out, each on its lane's resources.
	Accept func(*message.Message) bool
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
	// lanes holds the lane of each subscribed handler, by name.
	lanes sync.Map
	// tracer is nil when tracing is off.
	tracer trace.Tracer
	system string
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
	m := &Messaging{router: router, transport: transport, dedup: NewDedup(keys), logger: logger, system: cfg.System}
	if cfg.Tracing.Enabled() {
		m.tracer = cfg.Tracing.Tracer(tracerScope)
	}

	poison, err := middleware.PoisonQueueWithFilter(poisonPublisher{transport.Publisher(), cfg.Clock}, PoisonTopic, goesToPoisonQueue)
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
	middlewares := []message.HandlerMiddleware{onlyTheRequeuedHandler, m.observe, poison}
	if m.tracer != nil {
		// Inside the poison queue, so that the span records the error of
		// a message it takes; around the retries, so that one span covers
		// a message's every try.
		middlewares = append(middlewares, m.trace)
	}
	middlewares = append(middlewares, retry.Middleware, middleware.Recoverer)
	if cfg.UnitOfWork != nil {
		middlewares = append(middlewares, cfg.UnitOfWork)
	}
	middlewares = append(middlewares, cfg.Middlewares...)
	router.AddMiddleware(append(middlewares, m.dedup.Middleware)...)

	marshaler := Marshaler()
	stamp := func(msg *message.Message, v any) error {
		msg.Metadata.Set(PublishedAtKey, cfg.Clock.Now().UTC().Format(time.RFC3339Nano))
		msg.Metadata.Set(lane.MetadataKey, lane.Of(routeOf(v)))
		if m.tracer != nil {
			stampTrace(msg, v)
		}
		return nil
	}
	m.commands, err = cqrs.NewCommandBusWithConfig(transport.Publisher(), cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return CommandTopic(p.CommandName, routeOf(p.Command)), nil
		},
		OnSend:    func(p cqrs.CommandBusOnSendParams) error { return stamp(p.Message, p.Command) },
		Marshaler: marshaler,
		Logger:    wlog,
	})
	if err != nil {
		return nil, fmt.Errorf("command bus: %w", err)
	}
	m.events, err = cqrs.NewEventBusWithConfig(transport.Publisher(), cqrs.EventBusConfig{
		GeneratePublishTopic: func(p cqrs.GenerateEventPublishTopicParams) (string, error) {
			return EventTopic(p.EventName, routeOf(p.Event)), nil
		},
		OnPublish: func(p cqrs.OnEventSendParams) error { return stamp(p.Message, p.Event) },
		Marshaler: marshaler,
		Logger:    wlog,
	})
	if err != nil {
		return nil, fmt.Errorf("event bus: %w", err)
	}
	m.cmdProc, err = cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return CommandTopic(p.CommandName, handlerRoute(p.CommandHandler)), nil
		},
		SubscriberConstructor: func(p cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			route := handlerRoute(p.Handler)
			return m.subscriber(CommandTopic(p.CommandName, route), p.HandlerName, route)
		},
		Marshaler: marshaler,
		Logger:    wlog,
	})
	if err != nil {
		return nil, fmt.Errorf("command processor: %w", err)
	}
	m.evtProc, err = cqrs.NewEventProcessorWithConfig(router, cqrs.EventProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.EventProcessorGenerateSubscribeTopicParams) (string, error) {
			return EventTopic(p.EventName, handlerRoute(p.EventHandler)), nil
		},
		SubscriberConstructor: func(p cqrs.EventProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			route := handlerRoute(p.EventHandler)
			topic := EventTopic(p.EventName, route)
			if o, ok := m.transport.(Observing); ok && observes(p.EventHandler) {
				if err := o.Observe(topic, p.HandlerName); err != nil {
					return nil, fmt.Errorf("observe %s for %s: %w", topic, p.HandlerName, err)
				}
			}
			return m.subscriber(topic, p.HandlerName, route)
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

// subscriber declares the handler's queue for topic and returns its
// subscriber: a subscriber of the handler's lane when the transport gives
// lanes resources of their own.
func (m *Messaging) subscriber(topic, handlerName, route string) (message.Subscriber, error) {
	l := lane.Of(route)
	m.lanes.Store(handlerName, l)
	var (
		sub message.Subscriber
		err error
	)
	// The subscriber first: a transport may make it as it initializes.
	if ls, ok := m.transport.(LaneSubscriber); ok {
		sub, err = ls.LaneSubscriber(handlerName, l)
	} else {
		sub, err = m.transport.Subscriber(handlerName)
	}
	if err != nil {
		return nil, err
	}
	if err := m.initialize(topic, handlerName); err != nil {
		return nil, err
	}
	return sub, nil
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

// laneOf returns the lane msg is handled on: the transactional lane when
// its handler consumes the transactional route or the message says it is
// transactional, else the bulk lane.
func (m *Messaging) laneOf(handlerName string, msg *message.Message) string {
	if l, ok := m.lanes.Load(handlerName); ok && l == lane.Transactional {
		return lane.Transactional
	}
	return lane.OfMessage(msg)
}

// observe counts handled and poisoned messages and puts the message's lane
// in its context (lane.From), where the unit of work finds it. It is the
// outermost middleware but for onlyTheRequeuedHandler, so it sees what the
// poison queue middleware made of an error.
func (m *Messaging) observe(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		name := message.HandlerNameFromCtx(msg.Context())
		msg.SetContext(lane.With(msg.Context(), m.laneOf(name, msg)))
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
	sub, err := m.subscriber(h.Topic, h.Name, LaneRoute(lane.Of(h.Lane)))
	if err != nil {
		return fmt.Errorf("subscriber for %s: %w", h.Name, err)
	}
	if h.Accept != nil {
		sub = acceptingSubscriber{Subscriber: sub, accept: h.Accept}
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
