package amqptransport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// subscriber consumes, for the handler named handler, each topic it
// subscribes to from the handler's own queue, on the transport's shared
// consume connection. It replaces watermill-amqp's subscriber, whose
// reconnection reads and writes its connection state without
// synchronisation (ThreeDotsLabs/watermill#693).
//
// Each Subscribe consumes on a channel of its own with the prefetch as QoS,
// so the broker streams messages ahead, and hands up to concurrency of them
// over at once (one at a time by default): another only once one of those
// was acked (amqp ack) or nacked (amqp nack, requeued). When the broker drops the channel or the connection, the
// subscription opens a channel again (the connection is redialled with
// backoff), declares its queue and consumes again; the broker redelivers
// what was not acked.
type subscriber struct {
	handler string
	consuming

	ctx       context.Context // cancelled by Close, and with it every message's context
	cancel    context.CancelFunc
	closeOnce sync.Once

	mu      sync.Mutex // guards closed and running.Add
	closed  bool
	running sync.WaitGroup // one per Subscribe until its output channel is closed

	// abandoned counts the messages left to redelivery, unsettled after
	// the close timeout, once Close has begun. Each handOver abandons on a
	// timer of its own started when it sees the close: it may fire before
	// the timer of Close, and the subscriptions then end in time, so Close
	// cannot tell from its own timer alone that it gave up on a message.
	abandoned atomic.Int64
}

var (
	_ message.Subscriber           = (*subscriber)(nil)
	_ message.SubscribeInitializer = (*subscriber)(nil)
)

// consuming is what every subscriber of a transport shares.
type consuming struct {
	conn         *redialer
	declare      func(ch *amqp.Channel, topic, handler string) (queue string, err error)
	prefetch     int
	concurrency  int
	backoff      func(failures int) time.Duration
	closeTimeout time.Duration
	logger       watermill.LoggerAdapter
}

// initialize declares the queue of the handler named handler for topic,
// bound to the topic's exchange, on a channel of its own.
func (c consuming) initialize(topic, handler string) error {
	conn, _, err := c.conn.connection()
	if err != nil {
		return fmt.Errorf("initialize %s for %s: %w", topic, handler, err)
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("initialize %s for %s: open channel: %w", topic, handler, err)
	}
	if _, err := c.declare(ch, topic, handler); err != nil {
		_ = ch.Close()
		return fmt.Errorf("initialize %s for %s: %w", topic, handler, err)
	}
	return ch.Close()
}

func newSubscriber(handler string, c consuming) *subscriber {
	s := &subscriber{handler: handler, consuming: c}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Subscribe implements message.Subscriber: it declares the handler's queue
// of topic, bound to the topic's exchange, and consumes it until ctx ends
// or Close is called, then closes the returned channel. It fails when the
// first consumption cannot start (broker unreachable, declaration refused);
// later losses are recovered from.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("subscribe %s for %s: %w", topic, s.handler, errClosed)
	}
	s.running.Add(1)
	s.mu.Unlock()

	c, err := s.open(topic)
	if err != nil {
		s.running.Done()
		return nil, fmt.Errorf("subscribe %s for %s: %w", topic, s.handler, err)
	}
	out := make(chan *message.Message)
	go s.consume(ctx, topic, c, out)
	return out, nil
}

// SubscribeInitialize implements message.SubscribeInitializer: it declares
// the handler's queue of topic, bound to the topic's exchange.
func (s *subscriber) SubscribeInitialize(topic string) error { return s.initialize(topic, s.handler) }

// Close implements message.Subscriber: it cancels the context of the
// message in flight of each subscription, waits up to the close timeout
// for it to be acked or nacked, then stops consuming (the broker requeues
// what it had sent ahead) and closes the output channels. It returns an
// error when it gave up on a message not settled within the close timeout,
// left to the broker to redeliver. It is idempotent: later calls wait for
// the first one and return nil.
func (s *subscriber) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()

		stopped := make(chan struct{})
		go func() { s.running.Wait(); close(stopped) }()
		timeout := time.NewTimer(s.closeTimeout)
		defer timeout.Stop()
		select {
		case <-stopped:
			if n := s.abandoned.Load(); n > 0 {
				err = fmt.Errorf("close subscriber %s: %d messages still in flight after %s are left to redelivery",
					s.handler, n, s.closeTimeout)
			}
		case <-timeout.C:
			err = fmt.Errorf("close subscriber %s: messages still in flight after %s are left to redelivery",
				s.handler, s.closeTimeout)
		}
	})
	return err
}

// consumer is one consumption of a queue: its channel and deliveries.
type consumer struct {
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
}

// close closes the channel; the broker requeues its unacked deliveries.
func (c *consumer) close() { _ = c.ch.Close() }

// open starts consuming the handler's queue of topic on a new channel,
// declaring the queue first.
func (s *subscriber) open(topic string) (*consumer, error) {
	conn, _, err := s.conn.connection()
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	queue, err := s.declare(ch, topic, s.handler)
	if err == nil {
		err = ch.Qos(s.prefetch, 0, false)
	}
	var deliveries <-chan amqp.Delivery
	if err == nil {
		deliveries, err = ch.Consume(queue, "", false, false, false, false, nil)
	}
	if err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("consume %s: %w", queue, err)
	}
	return &consumer{ch: ch, deliveries: deliveries}, nil
}

// consume hands the deliveries over to out until ctx ends or Close is
// called, consuming again whenever the broker drops the channel.
func (s *subscriber) consume(ctx context.Context, topic string, c *consumer, out chan<- *message.Message) {
	defer s.running.Done()
	defer close(out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	fields := watermill.LogFields{"topic": topic, "handler": s.handler}

	// failures counts the consumptions in a row that failed to start or
	// ended without delivering anything: the next attempt waits for the
	// backoff, so a broker that keeps refusing is not hammered.
	failures := 0
	for {
		delivered := s.deliver(ctx, c, out, fields)
		c.close()
		if ctx.Err() != nil {
			return
		}
		if delivered {
			failures = 0
		} else {
			failures++
		}
		s.logger.Info("AMQP consumer lost its channel, consuming again", fields)
		for c = nil; c == nil; {
			if failures > 0 && !s.pause(ctx, failures) {
				return
			}
			var err error
			if c, err = s.open(topic); err != nil {
				failures++
				s.logger.Error("Cannot consume again", err, fields)
			}
		}
		s.logger.Info("AMQP consumer resumed", fields)
	}
}

// pause waits for the backoff after failures failures in a row, and at
// least until the connection may be dialled again. It returns false when
// ctx ends first.
func (s *subscriber) pause(ctx context.Context, failures int) bool {
	timer := time.NewTimer(max(s.backoff(failures), s.conn.retryIn()))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliver hands the deliveries of c over, up to concurrency at once, until
// c ends or ctx does, and returns once those handed over are settled (or
// abandoned); it reports whether any was handed over.
func (s *subscriber) deliver(ctx context.Context, c *consumer, out chan<- *message.Message, fields watermill.LogFields) (delivered bool) {
	slots := make(chan struct{}, max(s.concurrency, 1))
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return delivered
		case slots <- struct{}{}:
		}
		select {
		case <-ctx.Done():
			return delivered
		case d, ok := <-c.deliveries:
			if !ok {
				return delivered
			}
			delivered = true
			inFlight.Go(func() {
				defer func() { <-slots }()
				s.handOver(ctx, d, out, fields)
			})
		}
	}
	return delivered
}

// handOver sends the message of d to out, then waits until it is acked or
// nacked and settles d likewise. The message's context ends with ctx; the
// handler then has the close timeout to finish, after which d is left to
// the broker to redeliver.
func (s *subscriber) handOver(ctx context.Context, d amqp.Delivery, out chan<- *message.Message, fields watermill.LogFields) {
	msg := unmarshal(d)
	msgCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msg.SetContext(msgCtx)
	fields = fields.Add(watermill.LogFields{"message_uuid": msg.UUID})

	select {
	case out <- msg:
	case <-ctx.Done():
		s.settle(d.Nack(false, true), "nack", fields)
		return
	}
	stopping := ctx.Done()
	var abandon <-chan time.Time
	for {
		select {
		case <-msg.Acked():
			s.settle(d.Ack(false), "ack", fields)
			return
		case <-msg.Nacked():
			s.settle(d.Nack(false, true), "nack", fields)
			return
		case <-stopping:
			stopping = nil
			timer := time.NewTimer(s.closeTimeout)
			defer timer.Stop()
			abandon = timer.C
		case <-abandon:
			if s.ctx.Err() != nil {
				s.abandoned.Add(1)
			}
			s.logger.Info("Message still in flight after the close timeout, left to redelivery", fields)
			return
		}
	}
}

// settle logs an ack or nack that did not reach the broker: its channel
// is gone, so the broker redelivers the message.
func (s *subscriber) settle(err error, what string, fields watermill.LogFields) {
	if err != nil {
		s.logger.Info("Cannot "+what+" the message, its channel is gone: the broker redelivers it",
			fields.Add(watermill.LogFields{"err": err.Error()}))
	}
}
