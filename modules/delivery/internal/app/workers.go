package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
)

// NewSenders makes the senders of one worker: every call returns senders of
// its own (its own SMTP connection, its own SMS gateway client), for the
// same channels.
type NewSenders func() (Senders, error)

// Workers is the pool of delivery workers of one lane. It lives as long as
// the process: it owns the senders NewSenders gave it (one set per
// connection: an SMTP connection, an SMS gateway client), keeps their
// connections open from batch to batch (a sender reconnects by itself
// after an error) and closes them at Stop. With as many connections as
// workers, each worker has its own set; with fewer (WithConnections), the
// workers share them, each holding a channel's connection only while it
// sends, so that the connections stay busy while workers render messages
// and wait for their "sent" marks. Batches hand their rows to the pool and
// wait for the results (see DeliverBatchHandler): a row goes to a worker
// only when one is free, so no more than Size tries of the lane are in
// flight, however many batches there are. Each lane has its own pool, so a
// mailing never occupies a worker or a connection of the codes.
type Workers struct {
	size     int
	channels []string
	// sets are the senders made, one set per connection; workerSenders
	// are what each worker sends with: its own set, or the shared pools.
	sets          []Senders
	workerSenders []Senders
	logger        *slog.Logger

	// tasks hands one try of one row to a free worker (unbuffered).
	tasks chan func(Senders)
	// started is closed by Start, stopping by Stop, done once every worker
	// has returned and the senders are closed.
	started, stopping, done chan struct{}
	startOnce, stopOnce     sync.Once
	wg                      sync.WaitGroup
}

// ErrWorkersStopped is returned for a batch that could not finish because
// its lane's workers were stopped or never started.
var ErrWorkersStopped = errors.New("delivery workers stopped")

// WorkersOption tunes NewWorkers.
type WorkersOption func(*workersConfig)

type workersConfig struct{ connections int }

// WithConnections makes m sets of senders (connections) for the workers to
// share instead of one per worker; 1 ≤ m ≤ the workers.
func WithConnections(m int) WorkersOption {
	return func(c *workersConfig) { c.connections = m }
}

// NewWorkers returns a pool of n workers (at least one) with senders made by
// newSenders, one call per connection (per worker unless WithConnections
// says fewer); every set must hold the same channels, none nil. It starts
// no goroutine: call Start, then Stop. When a call of newSenders fails, the
// senders already made are closed.
func NewWorkers(n int, newSenders NewSenders, logger *slog.Logger, opts ...WorkersOption) (*Workers, error) {
	if n < 1 {
		return nil, fmt.Errorf("new delivery workers: %d workers, at least 1 needed", n)
	}
	if newSenders == nil || logger == nil {
		return nil, errors.New("new delivery workers: senders and logger are required")
	}
	cfg := workersConfig{connections: n}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.connections < 1 || cfg.connections > n {
		return nil, fmt.Errorf("new delivery workers: %d connections for %d workers, 1 to %d needed", cfg.connections, n, n)
	}
	w := &Workers{
		size: n, logger: logger, tasks: make(chan func(Senders)),
		started: make(chan struct{}), stopping: make(chan struct{}), done: make(chan struct{}),
	}
	for i := range cfg.connections {
		s, err := newSenders()
		if err == nil {
			err = w.check(s)
		}
		if err != nil {
			for _, made := range w.sets {
				w.close(made)
			}
			return nil, fmt.Errorf("new delivery workers: senders of connection %d: %w", i+1, err)
		}
		w.sets = append(w.sets, maps.Clone(s))
	}
	if cfg.connections == n {
		w.workerSenders = w.sets
	} else {
		shared := make(Senders, len(w.channels))
		for _, ch := range w.channels {
			pool := &pooledSender{free: make(chan Sender, len(w.sets))}
			pool.preparer = preparerOf(w.sets, ch)
			for _, set := range w.sets {
				pool.free <- set[ch]
			}
			shared[ch] = pool
		}
		for range n {
			w.workerSenders = append(w.workerSenders, shared)
		}
	}
	return w, nil
}

// pooledSender sends through the first of its senders that is free.
type pooledSender struct {
	free chan Sender
	// preparer, when every sender is a Preparer, prepares each message
	// before a sender is taken.
	preparer Preparer
}

// preparerOf returns the sender of channel ch of the first set when the
// senders of ch in every set are Preparers, else nil.
func preparerOf(sets []Senders, ch string) Preparer {
	for _, set := range sets {
		if _, ok := set[ch].(Preparer); !ok {
			return nil
		}
	}
	return sets[0][ch].(Preparer)
}

// Send implements Sender: it waits for a free sender, or for ctx to end.
// A message for Preparers is prepared first, before a sender is taken, so
// that the connection is held only for the exchange.
func (p *pooledSender) Send(ctx context.Context, msg Message) error {
	if p.preparer != nil {
		prepared, err := p.preparer.Prepare(msg)
		if err != nil {
			return err
		}
		defer prepared.Release()
		select {
		case s := <-p.free:
			defer func() { p.free <- s }()
			return s.(Preparer).SendPrepared(ctx, prepared)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case s := <-p.free:
		defer func() { p.free <- s }()
		return s.Send(ctx, msg)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connections returns the number of sender sets (connections per channel).
func (w *Workers) Connections() int { return len(w.sets) }

// check validates the senders of one worker against the first's channels.
func (w *Workers) check(s Senders) error {
	if len(s) == 0 {
		return errors.New("no sender")
	}
	for ch, sender := range s {
		if sender == nil {
			return fmt.Errorf("nil sender for channel %q", ch)
		}
	}
	channels := slices.Sorted(maps.Keys(s))
	if w.channels == nil {
		w.channels = channels
	} else if !slices.Equal(channels, w.channels) {
		return fmt.Errorf("channels %v differ from the first worker's %v", channels, w.channels)
	}
	return nil
}

// Size returns the number of workers.
func (w *Workers) Size() int { return w.size }

// has reports whether the workers can send on channel.
func (w *Workers) has(channel string) bool { return slices.Contains(w.channels, channel) }

// Start starts the workers; calling it again, or after Stop, does nothing.
func (w *Workers) Start() {
	w.startOnce.Do(func() {
		for _, s := range w.workerSenders {
			w.wg.Add(1)
			go w.work(s)
		}
		close(w.started)
		go func() {
			w.wg.Wait()
			for _, s := range w.sets {
				w.close(s)
			}
			close(w.done)
		}()
	})
}

// running reports whether Start was called and Stop not yet.
func (w *Workers) running() bool {
	select {
	case <-w.stopping:
		return false
	case <-w.started:
		return true
	default:
		return false
	}
}

// Stop asks the workers to stop once their current try is done, waits for
// them until ctx ends, and closes the senders once they have all returned. A batch still handing rows over gets ErrWorkersStopped;
// the router stops before the workers, so its batches are drained by then.
func (w *Workers) Stop(ctx context.Context) error {
	w.startOnce.Do(func() { // never started: nothing runs, close the senders
		for _, s := range w.sets {
			w.close(s)
		}
		close(w.done)
	})
	w.stopOnce.Do(func() { close(w.stopping) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop delivery workers: %w", ctx.Err())
	}
}

// work runs the tries it is handed, with the same senders, until Stop.
func (w *Workers) work(s Senders) {
	defer w.wg.Done()
	for {
		select {
		case <-w.stopping:
			return
		case try := <-w.tasks:
			try(s)
		}
	}
}

// close closes the senders that hold a connection (io.Closer).
func (w *Workers) close(s Senders) {
	for ch, sender := range s {
		if c, ok := sender.(io.Closer); ok {
			if err := c.Close(); err != nil {
				w.logger.Warn("close delivery sender", "channel", ch, "error", err)
			}
		}
	}
}
