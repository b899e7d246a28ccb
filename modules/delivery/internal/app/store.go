package app

import (
	"context"
	"errors"
	"time"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// ErrInvalidCursor is returned by Store.ListByPosting for a cursor it did not
// issue.
var ErrInvalidCursor = errors.New("invalid cursor")

// Store keeps one row per (posting, user, channel). Every method is safe for
// concurrent use, by several processes for a database-backed store: state
// changes are conditional updates, never read-modify-write across calls.
//
// In PostgreSQL: InsertPending is one INSERT … ON CONFLICT DO NOTHING and
// one SELECT of the keys still pending; RecordAttempt and Finish are
// UPDATE … WHERE key AND status = 'pending' RETURNING; CancelPosting inserts
// the posting into a cancelled-postings table and updates its pending rows
// in one transaction; ListByPosting is a keyset query on
// (posting_id, user_id, channel), the unique key.
type Store interface {
	// InsertPending inserts a pending row, created at at, for each key that
	// has none; existing rows are left untouched. It returns the rows of keys
	// that are pending after the insert (new ones and older ones not final
	// yet), in the order of keys, once each.
	InsertPending(ctx context.Context, keys []domain.Key, at time.Time) ([]domain.Delivery, error)
	// RecordAttempt counts one failed attempt of a pending row and keeps its
	// error text. It returns false, changing nothing, when the row is not
	// pending (or absent).
	RecordAttempt(ctx context.Context, key domain.Key, errText string, at time.Time) (bool, error)
	// Finish moves a pending row to the final status f.Status. It returns
	// the row and true when it changed it; false, changing nothing, when the
	// row is not pending (or absent), so each row is finished once.
	Finish(ctx context.Context, key domain.Key, f Final) (domain.Delivery, bool, error)
	// ListByPosting returns a page of a posting's rows ordered by user id then
	// channel. It returns ErrInvalidCursor for a cursor it did not issue.
	ListByPosting(ctx context.Context, postingID string, q ListQuery) (Page, error)
	// CancelPosting remembers the posting as cancelled and moves its pending
	// rows to cancelled at at. It returns the rows it changed; calling it
	// again returns none.
	CancelPosting(ctx context.Context, postingID string, at time.Time) ([]domain.Delivery, error)
	// IsCancelled reports whether CancelPosting was called for the posting.
	IsCancelled(ctx context.Context, postingID string) (bool, error)
}

// Final is the final state Store.Finish gives a pending row.
type Final struct {
	// Status is a final status (not pending).
	Status string
	// Error is the public reason, empty for sent.
	Error string
	// MessageID is the id the message was sent with (sent only).
	MessageID string
	// Attempted counts one more attempt: the send that produced this status.
	Attempted bool
	// At is when the row became final; it is the sent time for sent.
	At time.Time
}

// ListQuery selects a page of a posting's rows.
type ListQuery struct {
	// Status keeps only rows with this status; empty keeps all.
	Status string
	// Limit is the page size, at least 1.
	Limit int
	// Cursor continues after the page that returned it; empty starts.
	Cursor string
}

// Page is one page of rows.
type Page struct {
	Items []domain.Delivery
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string
}
