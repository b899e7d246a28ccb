package app

import (
	"context"
	"errors"
	"time"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// ErrInvalidCursor is returned by Store.ListByPosting and Store.ListByUser
// for a cursor they did not issue.
var ErrInvalidCursor = errors.New("invalid cursor")

// Store keeps one row per (posting, user, channel). Every method is safe for
// concurrent use, by several processes for a database-backed store: state
// changes are conditional updates, never read-modify-write across calls.
//
// Transactions: the row transitions (InsertPending, RecordAttempt, Finish,
// FinishMany) and IsCancelled commit at once, outside any unit of work the
// context carries. A message really sent must stay marked sent even when the
// handler's unit of work later rolls back, or the redelivered batch would
// send it again; and a batch must not hold a transaction open while it
// talks to SMTP servers. CancelPosting, Report, ListByPosting and ListByUser
// join the caller's unit of work, so a report commits with the event it
// publishes.
//
// In PostgreSQL: InsertPending is one round trip (an INSERT … SELECT FROM
// unnest … ON CONFLICT DO NOTHING and a SELECT of the keys still pending);
// RecordAttempt an UPDATE … WHERE key AND status = 'pending'; Finish the
// same, with the marks of concurrent callers grouped into one UPDATE …
// FROM unnest; FinishMany one UPDATE … FROM unnest; Report one UPDATE …
// RETURNING per chunk that flags the final unreported rows reported;
// ListByPosting a keyset query on (posting_id, user_id, channel), the
// unique key; ListByUser a keyset query on the index (user_id, created_at,
// posting_id, channel) (migration 00016).
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
	// Finish moves a pending row to the final status f.Status, not reported
	// yet. It returns the row and true when it changed it; false, changing
	// nothing, when the row is not pending (or absent), so each row is
	// finished once.
	Finish(ctx context.Context, key domain.Key, f Final) (domain.Delivery, bool, error)
	// FinishMany is Finish for many rows at once (a batch's skipped rows,
	// the rows of a cancelled posting). It returns how many rows it changed;
	// rows not pending are left as they are.
	FinishMany(ctx context.Context, transitions []Transition) (int, error)
	// Report passes the final rows of scope that are not reported yet to
	// publish, in chunks of at most scope.Chunk rows ordered by user id then
	// channel, and marks each chunk reported once publish returned nil for
	// it. publish gets a context carrying the store's transaction, if any,
	// so that what it publishes commits with the marks. When publish fails,
	// its chunk stays unreported and Report returns the error. Concurrent
	// reports of overlapping scopes report each row once. It returns how
	// many rows were reported.
	Report(ctx context.Context, scope ReportScope, publish func(ctx context.Context, rows []domain.Delivery) error) (int, error)
	// ListByPosting returns a page of a posting's rows ordered by user id then
	// channel. It returns ErrInvalidCursor for a cursor it did not issue.
	ListByPosting(ctx context.Context, postingID string, q ListQuery) (Page, error)
	// ListByUser returns a page of a user's rows across postings, newest
	// first: by creation time, then posting id and channel, descending. It
	// returns ErrInvalidCursor for a cursor it did not issue.
	ListByUser(ctx context.Context, userID string, q UserListQuery) (Page, error)
	// CancelPosting remembers the posting as cancelled and moves its pending
	// rows to cancelled (not reported yet) at at. It returns how many rows it
	// changed; calling it again changes none.
	CancelPosting(ctx context.Context, postingID string, at time.Time) (int, error)
	// IsCancelled reports whether CancelPosting was called for the posting.
	IsCancelled(ctx context.Context, postingID string) (bool, error)
	// LeaseBatch takes the batch's lease for holder for ttl, or extends it
	// when holder has it; it returns false, changing nothing, while another
	// holder has it and it has not expired. It commits at once.
	LeaseBatch(ctx context.Context, batch BatchKey, holder string, ttl time.Duration) (bool, error)
	// ReleaseBatch gives the batch's lease up, when holder has it.
	ReleaseBatch(ctx context.Context, batch BatchKey, holder string) error
}

// BatchKey names one batch of a posting in one lane.
type BatchKey struct {
	PostingID string
	Lane      string
	BatchNo   int
}

// Final is the final state Store.Finish gives a pending row.
type Final struct {
	// Status is a final status (not pending).
	Status string
	// Error is the public reason, empty for sent.
	Error string
	// MessageID is the id the message was sent with (sent only).
	MessageID string
	// Provider names the provider that sent the message (sent only).
	Provider string
	// Attempted counts one more attempt: the send that produced this status.
	Attempted bool
	// At is when the row became final; it is the sent time for sent.
	At time.Time
}

// Transition is the final state Store.FinishMany gives one pending row.
type Transition struct {
	Key   domain.Key
	Final Final
}

// ReportScope selects the rows Store.Report publishes.
type ReportScope struct {
	// PostingID is the posting whose rows are reported.
	PostingID string
	// Keys, when not nil, narrows the report to these rows of the posting
	// (one batch); nil reports every row of the posting.
	Keys []domain.Key
	// Chunk bounds the rows passed to one publish call; zero passes them
	// all at once.
	Chunk int
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

// UserListQuery selects a page of a user's rows.
type UserListQuery struct {
	// Status keeps only rows with this status; empty keeps all.
	Status string
	// Channel keeps only rows of this channel; empty keeps all.
	Channel string
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
