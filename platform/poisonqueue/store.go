package poisonqueue

import (
	"context"
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"
)

// Store keeps poisoned messages for their retention (the poison TTL)
// counted from their PoisonedAt: an entry past it is gone for every method,
// whether or not Sweep deleted it yet. Implementations are safe for
// concurrent use, by several processes for a database-backed store. The
// memory store and the PostgreSQL store pass the same contract suite.
type Store interface {
	// Record keeps m. An entry with m's ID poisoned earlier (the same
	// message refused again by the same handler, after a requeue) is
	// replaced; one poisoned at the same time or later (a redelivery of
	// the same poisoning) stays as it is.
	Record(ctx context.Context, m Message) error
	// List returns a page of entries, newest first (by PoisonedAt, then
	// ID). It returns ErrInvalidCursor for a cursor it did not issue.
	List(ctx context.Context, q Query) (Page, error)
	// Get returns an entry, or ErrNotFound.
	Get(ctx context.Context, id string) (Message, error)
	// Take passes an entry to fn and deletes it when fn returns nil; when
	// fn fails, the entry stays and Take returns fn's error. fn's context
	// carries the store's transaction, if any, so that what fn publishes
	// through the unit of work commits with the deletion. Concurrent Takes
	// of one entry pass it to one fn; the others get ErrNotFound. It
	// returns ErrNotFound for an entry not in the store.
	Take(ctx context.Context, id string, fn func(ctx context.Context, m Message) error) error
	// Delete deletes an entry, or returns ErrNotFound.
	Delete(ctx context.Context, id string) error
	// Sweep deletes the entries past their retention and returns how many.
	Sweep(ctx context.Context) (int64, error)
}

// Query selects a page of entries.
type Query struct {
	// Handler and Topic keep only the entries of that handler, or from
	// that topic; empty keeps all.
	Handler string
	Topic   string
	// Limit is the page size, at least 1.
	Limit int
	// Cursor continues after the page that returned it; empty starts.
	Cursor string
	// PayloadPrefix is how much of each payload to return (the preview);
	// PayloadSize still tells the whole length.
	PayloadPrefix int
}

// Page is one page of entries.
type Page struct {
	Items []Message
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string
}

// position is where a page ends in the order of List.
type position struct {
	at time.Time
	id string
}

// encodeCursor returns the cursor of the entries after m; every Store
// issues the same cursors.
func encodeCursor(m Message) string {
	return base64.RawURLEncoding.EncodeToString([]byte(m.PoisonedAt.UTC().Format(time.RFC3339Nano) + "\x00" + m.ID))
}

// decodeCursor returns the position a cursor continues after, or
// ErrInvalidCursor.
func decodeCursor(cursor string) (position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !utf8.Valid(raw) {
		return position{}, ErrInvalidCursor
	}
	at, rawID, ok := strings.Cut(string(raw), "\x00")
	id, valid := canonicalID(rawID)
	if !ok || !valid {
		return position{}, ErrInvalidCursor
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return position{}, ErrInvalidCursor
	}
	return position{at: t.UTC(), id: id}, nil
}

// before reports whether m comes after p in the order of List (newest
// first: an earlier time, or the same time and a lower id).
func (p position) before(m Message) bool {
	if !m.PoisonedAt.Equal(p.at) {
		return m.PoisonedAt.Before(p.at)
	}
	return m.ID < p.id
}
