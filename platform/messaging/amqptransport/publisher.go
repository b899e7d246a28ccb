package amqptransport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// publisher publishes with confirms over a pool of channels on a
// connection of its own. It replaces watermill-amqp's publisher, whose
// pooled channels leak when reopening one fails during a reconnection:
// under concurrent load the pool empties and Publish then blocks forever.
//
// Reconnection is lazy (see redialer): the first call after the connection
// was lost dials again, and the calls until the next backoff deadline fail
// fast with ErrNotConnected. Nothing runs in the background.
type publisher struct {
	conn     *redialer
	exchange func(topic string) string
	declare  func(ch *amqp.Channel, exchange string) error
	// expiration returns the AMQP expiration of the messages of a topic
	// ("" for none).
	expiration func(topic string) string
	timeout    time.Duration
	marshaler  Marshaler

	slots     chan *slot
	closing   chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex      // guards the fields below
	declared    map[string]bool // exchanges declared on the connection of generation declaredGen
	declaredGen uint64
}

// slot is one place in the pool; its channel belongs to the connection of
// generation gen and is reopened when it is closed or from an older one.
type slot struct {
	ch  *amqp.Channel
	gen uint64
}

func newPublisher(size int, timeout time.Duration, conn *redialer, exchange func(string) string,
	declare func(*amqp.Channel, string) error, expiration func(string) string) *publisher {
	p := &publisher{
		conn: conn, exchange: exchange, declare: declare, expiration: expiration, timeout: timeout,
		slots:   make(chan *slot, size),
		closing: make(chan struct{}),
	}
	for range size {
		p.slots <- &slot{}
	}
	return p
}

// channel returns the open confirm-mode channel of s, reopening it when
// needed.
func (p *publisher) channel(s *slot) (*amqp.Channel, uint64, error) {
	conn, gen, err := p.conn.connection()
	if err != nil {
		return nil, 0, err
	}
	if s.ch != nil && s.gen == gen && !s.ch.IsClosed() {
		return s.ch, gen, nil
	}
	s.reset()
	ch, err := conn.Channel()
	if err != nil {
		return nil, 0, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, 0, fmt.Errorf("confirm mode: %w", err)
	}
	s.ch, s.gen = ch, gen
	return ch, gen, nil
}

func (s *slot) reset() {
	if s.ch != nil {
		_ = s.ch.Close()
	}
	s.ch = nil
}

// ensureExchange declares the exchange once per connection.
func (p *publisher) ensureExchange(ch *amqp.Channel, gen uint64, exchange string) error {
	p.mu.Lock()
	done := p.declaredGen == gen && p.declared[exchange]
	p.mu.Unlock()
	if done {
		return nil
	}
	if err := p.declare(ch, exchange); err != nil {
		return fmt.Errorf("declare exchange %s: %w", exchange, err)
	}
	p.mu.Lock()
	if p.declaredGen != gen {
		p.declared, p.declaredGen = map[string]bool{}, gen
	}
	p.declared[exchange] = true
	p.mu.Unlock()
	return nil
}

// Publish implements message.Publisher: it returns once the broker has
// confirmed every message, or an error (no channel free or no confirmation
// within the timeout, broker unreachable, message refused). Each message's
// context bounds its own publishing too.
func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	var s *slot
	acquire := time.NewTimer(p.timeout)
	defer acquire.Stop()
	select {
	case s = <-p.slots:
	case <-p.closing:
		return errClosed
	case <-acquire.C:
		return fmt.Errorf("publish to %s: no channel free within %s", topic, p.timeout)
	}
	defer func() { p.slots <- s }()

	ch, gen, err := p.channel(s)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	exchange, expiration := p.exchange(topic), p.expiration(topic)
	if err := p.ensureExchange(ch, gen, exchange); err != nil {
		s.reset()
		return fmt.Errorf("publish to %s: %w", topic, err)
	}

	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, msg := range msgs {
		pub, err := p.marshaler.Marshal(msg)
		if err != nil {
			return fmt.Errorf("publish %s to %s: marshal: %w", msg.UUID, topic, err)
		}
		pub.Expiration = expiration
		dc, err := ch.PublishWithDeferredConfirmWithContext(msg.Context(), exchange, "", false, false, pub)
		if err != nil {
			s.reset()
			return fmt.Errorf("publish %s to %s: %w", msg.UUID, topic, err)
		}
		confirms = append(confirms, dc)
	}
	for i, dc := range confirms {
		ctx, cancel := context.WithTimeout(msgs[i].Context(), p.timeout)
		acked, err := dc.WaitContext(ctx)
		cancel()
		if err == nil && !acked && ch.IsClosed() {
			err = amqp.ErrClosed // the confirmation never came: the channel went down
		}
		if err != nil {
			s.reset()
			return fmt.Errorf("publish %s to %s: no confirmation: %w", msgs[i].UUID, topic, err)
		}
		if !acked {
			return fmt.Errorf("publish %s to %s: refused by the broker", msgs[i].UUID, topic)
		}
	}
	return nil
}

// Ping opens and closes a channel on the publishing connection, dialling
// it again when it was lost.
func (p *publisher) Ping() error { return p.conn.ping() }

// Close implements message.Publisher: publishes in flight fail, later ones
// return an error at once.
func (p *publisher) Close() error {
	p.closeOnce.Do(func() { close(p.closing) })
	return p.conn.close()
}
