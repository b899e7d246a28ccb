package domain

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ErrNotFound is returned by a Store for an unknown posting.
var ErrNotFound = errors.New("posting not found")

// Store keeps postings. Implementations are safe for concurrent use, also
// across processes sharing one database.
type Store interface {
	// Create stores p unless another posting holds p's IdempotencyKey. A
	// key is held by the posting that claimed it until its expiry; one whose
	// expiry is not after p.CreatedAt is free, and p claims it until
	// keyExpiresAt. It returns the stored posting and true when p was
	// stored, or the holder and false. A posting whose key expired stays
	// readable and listable.
	Create(ctx context.Context, p Posting, keyExpiresAt time.Time) (Posting, bool, error)
	// SweepKeys forgets the keys whose expiry is not after now (they are
	// free already) and returns how many.
	SweepKeys(ctx context.Context, now time.Time) (int64, error)
	// Get returns the posting with id, or ErrNotFound.
	Get(ctx context.Context, id uuid.UUID) (Posting, error)
	// List returns up to q.Limit postings matching q, newest first (by
	// CreatedAt, then ID, both descending), starting after q.After.
	List(ctx context.Context, q ListQuery) ([]Posting, error)
	// Update applies fn to the posting with id atomically: no other Update
	// of that posting interleaves. When fn returns an error nothing is
	// written and that error is returned (errors.Is works on it). It returns
	// the posting as written, or ErrNotFound.
	Update(ctx context.Context, id uuid.UUID, fn func(*Posting) error) (Posting, error)
	// AddOutcomes applies Posting.AddOutcomes(delta, now) to the posting
	// with id atomically, as Update would, but lets the store add the
	// delivery counters in place (delta.Recipients is ignored). Concurrent
	// calls lose no count. It returns the posting as written, and whether
	// this call settled it (moved it to a final status), or ErrNotFound.
	AddOutcomes(ctx context.Context, id uuid.UUID, delta Counters, now time.Time) (Posting, bool, error)
	// ListDue returns up to limit scheduled postings whose SendAt is not after
	// now, the earliest first.
	ListDue(ctx context.Context, now time.Time, limit int) ([]Posting, error)
	// CountByStatus returns how many postings are in each status, leaving
	// out the statuses no posting is in: every posting stored, by whichever
	// instance.
	CountByStatus(ctx context.Context) (map[Status]int, error)
}

// ListQuery filters and pages a listing. Empty filters match everything.
type ListQuery struct {
	FromEvent        string
	Status           Status
	NotificationType string
	Limit            int
	// After is the position of the last posting of the previous page.
	After *Cursor
}

// Matches reports whether p passes the query's filters.
func (q ListQuery) Matches(p Posting) bool {
	return (q.FromEvent == "" || p.FromEvent == q.FromEvent) &&
		(q.Status == "" || p.Status == q.Status) &&
		(q.NotificationType == "" || p.NotificationType == q.NotificationType)
}

// Cursor is a position in the newest-first order of postings.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// CursorOf returns the position of p.
func CursorOf(p Posting) Cursor { return Cursor{CreatedAt: p.CreatedAt, ID: p.ID} }

// Before reports whether p comes after the cursor in newest-first order.
func (c Cursor) Before(p Posting) bool {
	if !p.CreatedAt.Equal(c.CreatedAt) {
		return p.CreatedAt.Before(c.CreatedAt)
	}
	return strings.Compare(p.ID.String(), c.ID.String()) < 0
}

// Encode returns the cursor as an opaque URL-safe string.
func (c Cursor) Encode() string {
	raw := strconv.FormatInt(c.CreatedAt.UnixNano(), 10) + "." + c.ID.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor parses a string made by Cursor.Encode.
func DecodeCursor(s string) (Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, errors.New("malformed cursor")
	}
	nanos, id, ok := strings.Cut(string(raw), ".")
	if !ok {
		return Cursor{}, errors.New("malformed cursor")
	}
	n, err := strconv.ParseInt(nanos, 10, 64)
	if err != nil {
		return Cursor{}, errors.New("malformed cursor")
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return Cursor{}, fmt.Errorf("malformed cursor")
	}
	return Cursor{CreatedAt: time.Unix(0, n).UTC(), ID: u}, nil
}
