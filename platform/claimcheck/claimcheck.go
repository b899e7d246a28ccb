// Package claimcheck keeps a large part of many messages once and lets the
// messages carry a reference to it instead (the claim check pattern). The
// posting module stores a posting's resolved template context here when it
// is too large to copy into every batch of the posting's audience; the
// delivery module reads it back by the reference the batch carries.
//
// A claim is immutable: it is written once under its reference, in the
// writer's unit of work (so it commits with the messages that reference it),
// and a second Put of the same reference keeps the first payload. Claims
// expire after a retention longer than any message referencing them lives.
package claimcheck

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// ErrNotFound is returned by Get for a reference that was never stored or
// has expired.
var ErrNotFound = errors.New("claim not found")

// Store keeps claims. Implementations are safe for concurrent use.
type Store interface {
	// Put stores payload under ref until expiresAt, unless ref is stored
	// already, in which case the stored payload stays.
	Put(ctx context.Context, ref string, payload []byte, expiresAt time.Time) error
	// Get returns the payload stored under ref, or ErrNotFound.
	Get(ctx context.Context, ref string) ([]byte, error)
}

// Cached is a Store whose Get remembers the last few payloads it read:
// every batch of a posting asks for the same one. Claims never change, so
// a remembered payload is never stale; an expired one may still be
// answered from the cache, which is harmless.
type Cached struct {
	Store
	size int

	mu    sync.Mutex
	order *list.List // of *entry, most recent first
	byRef map[string]*list.Element
}

type entry struct {
	ref     string
	payload []byte
}

// NewCached returns store with a cache of the last size payloads read
// (at least 1).
func NewCached(store Store, size int) *Cached {
	return &Cached{Store: store, size: max(size, 1), order: list.New(), byRef: map[string]*list.Element{}}
}

// Get returns the payload of ref from the cache, else from the store.
// Callers must not change the slice.
func (c *Cached) Get(ctx context.Context, ref string) ([]byte, error) {
	c.mu.Lock()
	if el, ok := c.byRef[ref]; ok {
		c.order.MoveToFront(el)
		payload := el.Value.(*entry).payload
		c.mu.Unlock()
		return payload, nil
	}
	c.mu.Unlock()
	payload, err := c.Store.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byRef[ref]; !ok {
		c.byRef[ref] = c.order.PushFront(&entry{ref: ref, payload: payload})
		for c.order.Len() > c.size {
			oldest := c.order.Back()
			c.order.Remove(oldest)
			delete(c.byRef, oldest.Value.(*entry).ref)
		}
	}
	return payload, nil
}
