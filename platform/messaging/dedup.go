package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/notifier/notifier/platform/clock"
)

// ErrInFlight is returned by a KeyStore when another handler is processing
// a message with the same key right now; the message is retried later.
var ErrInFlight = errors.New("a message with the same key is being processed")

// KeyStore remembers which messages a handler has already processed. Unlike
// Watermill's ExpiringKeyRepository, a claimed key is only kept when the
// handler succeeds: Release forgets it after a failure, so a redelivered
// message is processed again instead of being silently dropped.
//
// A durable store records Complete in the same transaction as the handler's
// writes (it can carry the transaction in ctx, which the handler receives).
type KeyStore interface {
	// Claim reserves key. It returns duplicate=true when the key was
	// processed within the retention window, and ErrInFlight when another
	// handler holds it.
	Claim(ctx context.Context, key string) (duplicate bool, err error)
	// Complete records key as processed for the retention window.
	Complete(ctx context.Context, key string) error
	// Release forgets a claimed key after the handler failed.
	Release(ctx context.Context, key string) error
}

// KeyFunc derives the deduplication key of a message seen by a handler.
// An empty key disables deduplication for that message.
type KeyFunc func(handlerName string, msg *message.Message) (string, error)

// UUIDKey is the default KeyFunc: the handler name and the message UUID, so
// the same event fanned out to two handlers is processed once by each.
func UUIDKey(handlerName string, msg *message.Message) (string, error) {
	return handlerName + ":" + msg.UUID, nil
}

type claimSlotKey struct{}

// claimSlot carries a message's key to the repository and brings back
// whether the repository claimed it.
type claimSlot struct {
	key     string
	claimed bool
}

// keyStoreRepository adapts a KeyStore to Watermill's ExpiringKeyRepository
// and remembers the claimed key in the message context.
type keyStoreRepository struct{ store KeyStore }

func (r keyStoreRepository) IsDuplicate(ctx context.Context, key string) (bool, error) {
	dup, err := r.store.Claim(ctx, key)
	if err != nil || dup {
		return dup, err
	}
	if slot, ok := ctx.Value(claimSlotKey{}).(*claimSlot); ok {
		slot.claimed = true
	}
	return false, nil
}

// Dedup is a router middleware built on Watermill's middleware.Deduplicator
// with a KeyStore that keeps a key only when its handler succeeded.
type Dedup struct {
	store    KeyStore
	mu       sync.RWMutex
	keyFuncs map[string]KeyFunc
	timeout  time.Duration
}

// NewDedup returns a Dedup over store.
func NewDedup(store KeyStore) *Dedup {
	return &Dedup{store: store, keyFuncs: map[string]KeyFunc{}, timeout: 30 * time.Second}
}

// SetKeyFunc sets the key function of one handler (the default is UUIDKey).
func (d *Dedup) SetKeyFunc(handlerName string, f KeyFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keyFuncs[handlerName] = f
}

func (d *Dedup) keyFunc(msg *message.Message) (string, error) {
	name := message.HandlerNameFromCtx(msg.Context())
	d.mu.RLock()
	f, ok := d.keyFuncs[name]
	d.mu.RUnlock()
	if !ok {
		f = UUIDKey
	}
	return f(name, msg)
}

// Middleware drops messages already processed by the same handler.
func (d *Dedup) Middleware(h message.HandlerFunc) message.HandlerFunc {
	inner := (&middleware.Deduplicator{
		// The key is derived once, below, and handed over in the context.
		KeyFactory: func(msg *message.Message) (string, error) {
			return msg.Context().Value(claimSlotKey{}).(*claimSlot).key, nil
		},
		Repository: keyStoreRepository{store: d.store},
		Timeout:    d.timeout,
	}).Middleware(h)
	return func(msg *message.Message) ([]*message.Message, error) {
		key, err := d.keyFunc(msg)
		if err != nil {
			return nil, Permanent(fmt.Errorf("derive deduplication key: %w", err))
		}
		if key == "" {
			return h(msg)
		}
		slot := &claimSlot{key: key}
		msg.SetContext(context.WithValue(msg.Context(), claimSlotKey{}, slot))
		out, err := inner(msg)
		if !slot.claimed {
			// A duplicate (dropped) or a failed claim: nothing to finish.
			return out, err
		}
		ctx := context.WithoutCancel(msg.Context())
		if err != nil {
			if rerr := d.store.Release(ctx, slot.key); rerr != nil {
				return out, errors.Join(err, fmt.Errorf("release deduplication key: %w", rerr))
			}
			return out, err
		}
		if cerr := d.store.Complete(ctx, slot.key); cerr != nil {
			return out, fmt.Errorf("complete deduplication key: %w", cerr)
		}
		return out, nil
	}
}

// MemoryKeyStore is the in-memory KeyStore. Completed keys are forgotten
// after the retention window.
type MemoryKeyStore struct {
	mu        sync.Mutex
	clock     clock.Clock
	retention time.Duration
	inFlight  map[string]struct{}
	done      map[string]time.Time
	lastSweep time.Time
}

// NewMemoryKeyStore returns a MemoryKeyStore keeping keys for retention.
func NewMemoryKeyStore(c clock.Clock, retention time.Duration) *MemoryKeyStore {
	if c == nil {
		c = clock.System{}
	}
	return &MemoryKeyStore{clock: c, retention: retention, inFlight: map[string]struct{}{}, done: map[string]time.Time{}}
}

// Claim implements KeyStore.
func (s *MemoryKeyStore) Claim(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.sweep(now)
	if until, ok := s.done[key]; ok && now.Before(until) {
		return true, nil
	}
	if _, ok := s.inFlight[key]; ok {
		return false, ErrInFlight
	}
	s.inFlight[key] = struct{}{}
	return false, nil
}

// Complete implements KeyStore.
func (s *MemoryKeyStore) Complete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inFlight, key)
	s.done[key] = s.clock.Now().Add(s.retention)
	return nil
}

// Release implements KeyStore.
func (s *MemoryKeyStore) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inFlight, key)
	return nil
}

func (s *MemoryKeyStore) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < s.retention/2 {
		return
	}
	s.lastSweep = now
	for k, until := range s.done {
		if !now.Before(until) {
			delete(s.done, k)
		}
	}
}
