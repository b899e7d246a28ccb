package amqptransport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrNotConnected is returned while the broker cannot be reached; the
// connection is redialled, with backoff, by later calls.
var ErrNotConnected = errors.New("not connected to RabbitMQ")

// errClosed is returned after Close.
var errClosed = errors.New("amqp transport closed")

// redialer holds one connection to RabbitMQ and dials it again after the
// broker dropped it. Redialling is lazy: the first call after the loss
// dials, and after a failed dial the calls until the next backoff deadline
// fail fast with ErrNotConnected. Nothing runs in the background. It is
// safe for concurrent use.
type redialer struct {
	role    string // "publish" or "consume", for logs
	dial    func() (*amqp.Connection, error)
	backoff func(failures int) time.Duration
	logger  watermill.LoggerAdapter

	mu       sync.Mutex // guards the fields below
	conn     *amqp.Connection
	gen      uint64 // bumped on every new connection
	failures int
	retryAt  time.Time
	closed   bool
}

func newRedialer(role string, dial func() (*amqp.Connection, error), backoff func(int) time.Duration,
	logger watermill.LoggerAdapter) *redialer {
	return &redialer{role: role, dial: dial, backoff: backoff, logger: logger}
}

// connection returns the live connection and its generation, dialling a
// new one when it was lost and the backoff allows. It fails with
// ErrNotConnected while the broker cannot be reached and with errClosed
// after close.
func (r *redialer) connection() (*amqp.Connection, uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, 0, errClosed
	}
	if r.conn != nil && !r.conn.IsClosed() {
		return r.conn, r.gen, nil
	}
	if time.Now().Before(r.retryAt) {
		return nil, 0, ErrNotConnected
	}
	conn, err := r.dial()
	if err != nil {
		r.failures++
		delay := r.backoff(r.failures)
		r.retryAt = time.Now().Add(delay)
		r.logger.Error("Cannot connect to RabbitMQ", err, watermill.LogFields{"connection": r.role, "retry_in": delay.String()})
		return nil, 0, fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	if r.gen > 0 {
		r.logger.Info("Reconnected to RabbitMQ", watermill.LogFields{"connection": r.role})
	}
	r.conn, r.failures, r.retryAt = conn, 0, time.Time{}
	r.gen++
	return conn, r.gen, nil
}

// retryIn returns how long the backoff forbids dialling again.
func (r *redialer) retryIn() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(0, time.Until(r.retryAt))
}

// ping opens and closes a channel on the connection, dialling it again
// when it was lost.
func (r *redialer) ping() error {
	conn, _, err := r.connection()
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	return ch.Close()
}

// close closes the connection; later calls of connection fail with
// errClosed.
func (r *redialer) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.conn == nil || r.conn.IsClosed() {
		return nil
	}
	if err := r.conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("close %s connection: %w", r.role, err)
	}
	return nil
}

// jitteredBackoff returns the delay before the next attempt after failures
// consecutive failures: initial doubled each time up to maxDelay, ±50%.
func jitteredBackoff(initial, maxDelay time.Duration) func(int) time.Duration {
	return func(failures int) time.Duration {
		d := initial
		for i := 1; i < failures && d < maxDelay; i++ {
			d *= 2
		}
		d = min(d, maxDelay)
		return time.Duration(float64(d) * (0.5 + rand.Float64()))
	}
}
