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
// the process: each worker owns the senders NewSenders gave it, keeps their
// connections open from batch to batch (a sender reconnects by itself
// after an error) and closes them at Stop. Batches hand their rows to the
// pool and wait for the results (see DeliverBatchHandler): a row goes to a
// worker only when one is free, so no more than Size sends of the lane are
// in flight, however many batches there are. Each lane has its own pool, so
// a mailing never occupies a worker of the codes.
type Workers struct {
	size     int
	channels []string
	senders  []Senders
	logger   *slog.Logger

	// tasks hands one try of one row to a free worker (unbuffered).
	tasks chan func(Senders)
	// started is closed by Start, stopping by Stop, done once every worker
	// has returned and closed its senders.
	started, stopping, done chan struct{}
	startOnce, stopOnce     sync.Once
	wg                      sync.WaitGroup
}

// ErrWorkersStopped is returned for a batch that could not finish because
// its lane's workers were stopped or never started.
var ErrWorkersStopped = errors.New("delivery workers stopped")

// NewWorkers returns a pool of n workers (at least one) with senders made by
// newSenders, one call per worker; every set must hold the same channels,
// none nil. It starts no goroutine: call Start, then Stop. When a call of
// newSenders fails, the senders already made are closed.
func NewWorkers(n int, newSenders NewSenders, logger *slog.Logger) (*Workers, error) {
	if n < 1 {
		return nil, fmt.Errorf("new delivery workers: %d workers, at least 1 needed", n)
	}
	if newSenders == nil || logger == nil {
		return nil, errors.New("new delivery workers: senders and logger are required")
	}
	w := &Workers{
		size: n, logger: logger, tasks: make(chan func(Senders)),
		started: make(chan struct{}), stopping: make(chan struct{}), done: make(chan struct{}),
	}
	for i := range n {
		s, err := newSenders()
		if err == nil {
			err = w.check(s)
		}
		if err != nil {
			for _, made := range w.senders {
				w.close(made)
			}
			return nil, fmt.Errorf("new delivery workers: senders of worker %d: %w", i+1, err)
		}
		w.senders = append(w.senders, maps.Clone(s))
	}
	return w, nil
}

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
		for _, s := range w.senders {
			w.wg.Add(1)
			go w.work(s)
		}
		close(w.started)
		go func() { w.wg.Wait(); close(w.done) }()
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
// them until ctx ends, and closes their senders (each worker closes its own
// as it returns). A batch still handing rows over gets ErrWorkersStopped;
// the router stops before the workers, so its batches are drained by then.
func (w *Workers) Stop(ctx context.Context) error {
	w.startOnce.Do(func() { // never started: nothing runs, close the senders
		for _, s := range w.senders {
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
	defer w.close(s)
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
