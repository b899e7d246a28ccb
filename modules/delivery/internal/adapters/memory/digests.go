package memory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// Digests keeps digests in memory (memory mode, tests): they do not
// survive a restart. It is safe for concurrent use.
type Digests struct {
	mu      sync.Mutex
	digests map[string]*memDigest
	open    map[app.DigestKey]string
	// held names the digest of every part held: (posting, user, channel).
	held map[partKey]string
}

type memDigest struct {
	d     app.Digest
	parts []app.DigestPart
}

type partKey struct{ posting, user, channel string }

var _ app.DigestStore = (*Digests)(nil)

// NewDigests returns an empty store.
func NewDigests() *Digests {
	return &Digests{digests: map[string]*memDigest{}, open: map[app.DigestKey]string{}, held: map[partKey]string{}}
}

// Hold implements app.DigestStore.
func (s *Digests) Hold(ctx context.Context, parts []app.HeldPart) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		pk := partKey{p.Part.PostingID, p.Key.UserID, p.Key.Channel}
		if _, dup := s.held[pk]; dup {
			continue
		}
		id, ok := s.open[p.Key]
		if !ok {
			id = uuid.NewString()
			s.digests[id] = &memDigest{d: app.Digest{ID: id, Key: p.Key, Lane: p.Lane, DueAt: p.Due, CreatedAt: p.Part.AddedAt}}
			s.open[p.Key] = id
		}
		m := s.digests[id]
		m.parts = append(m.parts, p.Part)
		s.held[pk] = id
	}
	return nil
}

// Due implements app.DigestStore: the digests taken are closed while send
// runs, and open again when it fails (unless another one of their key was
// opened meanwhile, in which case their parts move to it).
func (s *Digests) Due(ctx context.Context, now time.Time, limit int, send func(context.Context, []app.Digest) error) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	var due []app.Digest
	for _, id := range s.open {
		if d := s.digests[id].d; !d.DueAt.After(now) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b app.Digest) int { return a.DueAt.Compare(b.DueAt) })
	if len(due) > limit {
		due = due[:limit]
	}
	for i := range due {
		delete(s.open, due[i].Key)
		s.digests[due[i].ID].d.ClosedAt = now
		due[i].ClosedAt = now
	}
	s.mu.Unlock()
	if len(due) == 0 {
		return 0, nil
	}
	if err := send(ctx, due); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, d := range due {
			m := s.digests[d.ID]
			m.d.ClosedAt = time.Time{}
			if other, taken := s.open[d.Key]; taken {
				o := s.digests[other]
				o.parts = append(m.parts, o.parts...)
				for _, p := range m.parts {
					s.held[partKey{p.PostingID, d.Key.UserID, d.Key.Channel}] = other
				}
				delete(s.digests, d.ID)
				continue
			}
			s.open[d.Key] = d.ID
		}
		return 0, err
	}
	return len(due), nil
}

// Load implements app.DigestStore.
func (s *Digests) Load(ctx context.Context, id string) (app.Digest, []app.DigestPart, bool, error) {
	if err := ctx.Err(); err != nil {
		return app.Digest{}, nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.digests[id]
	if !ok {
		return app.Digest{}, nil, false, nil
	}
	return m.d, slices.Clone(m.parts), true, nil
}

// OpenOf implements app.DigestStore.
func (s *Digests) OpenOf(ctx context.Context, userID string) ([]app.OpenDigest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.OpenDigest
	for k, id := range s.open {
		if k.UserID == userID {
			m := s.digests[id]
			out = append(out, app.OpenDigest{Digest: m.d, Parts: len(m.parts)})
		}
	}
	slices.SortFunc(out, func(a, b app.OpenDigest) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Purge implements app.DigestStore.
func (s *Digests) Purge(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, m := range s.digests {
		if !m.d.ClosedAt.IsZero() && m.d.ClosedAt.Before(before) {
			for _, p := range m.parts {
				delete(s.held, partKey{p.PostingID, m.d.Key.UserID, m.d.Key.Channel})
			}
			delete(s.digests, id)
			n++
		}
	}
	return n, nil
}

// Open returns how many digests are open.
func (s *Digests) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}
