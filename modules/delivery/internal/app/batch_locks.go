package app

import (
	"context"
	"strconv"
	"sync"
)

// batchLocks lets one copy of a batch at a time through, in this process.
// A batch can arrive twice at once: the outbox forwards it again when the
// process that forwarded it died before deleting its row, and the broker
// redelivers the copy that process held; with several messages handled at
// once (amqp.handler_concurrency) both copies could then send the rows
// still pending, each. Held one after the other, the second finds them
// final and sends nothing.
//
// Across processes the batch's lease does the same (see holdBatch).
type batchLocks struct {
	mu   sync.Mutex
	held map[string]*batchLock
}

type batchLock struct {
	turn    chan struct{} // holds one token: whoever takes it holds the lock
	waiting int           // holders and waiters, to forget an idle lock
}

// lock waits for the batch's turn; it returns the unlock function, or
// ctx's error when ctx ends first.
func (b *batchLocks) lock(ctx context.Context, postingID, lane string, batchNo int) (func(), error) {
	key := postingID + "\x00" + lane + "\x00" + strconv.Itoa(batchNo)
	b.mu.Lock()
	if b.held == nil {
		b.held = make(map[string]*batchLock)
	}
	l := b.held[key]
	if l == nil {
		l = &batchLock{turn: make(chan struct{}, 1)}
		l.turn <- struct{}{}
		b.held[key] = l
	}
	l.waiting++
	b.mu.Unlock()

	release := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if l.waiting--; l.waiting == 0 {
			delete(b.held, key)
		}
	}
	select {
	case <-l.turn:
		return func() { l.turn <- struct{}{}; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
