package claimcheck

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// Memory is the in-memory Store of the memory transport.
type Memory struct {
	now func() time.Time

	mu     sync.Mutex
	claims map[string]claim
}

type claim struct {
	payload   []byte
	expiresAt time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store reading the time from now (time.Now
// when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, claims: map[string]claim{}}
}

// Put stores payload under ref unless it is stored already; it forgets
// the expired claims on the way.
func (m *Memory) Put(ctx context.Context, ref string, payload []byte, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for r, c := range m.claims {
		if !now.Before(c.expiresAt) {
			delete(m.claims, r)
		}
	}
	if _, ok := m.claims[ref]; !ok {
		m.claims[ref] = claim{payload: bytes.Clone(payload), expiresAt: expiresAt}
	}
	return nil
}

// Get returns a copy of the payload under ref.
func (m *Memory) Get(ctx context.Context, ref string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.claims[ref]
	if !ok || !m.now().Before(c.expiresAt) {
		return nil, ErrNotFound
	}
	return bytes.Clone(c.payload), nil
}
