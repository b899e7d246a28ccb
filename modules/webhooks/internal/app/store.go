// Package app holds the webhooks module's use cases, one per file: the
// endpoints' management, the handlers that turn the events it watches into
// messages, and the dispatcher that sends them.
package app

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

// ErrInvalidCursor is returned for a cursor a store did not issue.
var ErrInvalidCursor = errors.New("invalid cursor")

// Store keeps endpoints, their messages and their attempts. Every method
// is safe for concurrent use, by several processes for a database-backed
// store.
//
// Transactions: Enqueue joins the unit of work the context carries (the
// consumed event's transaction), so that the messages exist if and only if
// the event was handled. Subscribers reads outside it, so that an event
// with no endpoint to go to begins no transaction. Every other method
// commits at once.
type Store interface {
	// CreateEndpoint stores e.
	CreateEndpoint(ctx context.Context, e domain.Endpoint) error
	// GetEndpoint returns the endpoint with id, or domain.ErrNotFound.
	GetEndpoint(ctx context.Context, id uuid.UUID) (domain.Endpoint, error)
	// ListEndpoints returns every endpoint, oldest first.
	ListEndpoints(ctx context.Context) ([]domain.Endpoint, error)
	// UpdateEndpoint applies fn to the endpoint with id atomically and
	// returns it as written; nothing is written when fn fails (its error
	// is returned). Updates of one endpoint run one after the other, fn
	// seeing what the one before wrote, so none is lost (PatchEndpoint,
	// RotateSecret). domain.ErrNotFound for an unknown id.
	UpdateEndpoint(ctx context.Context, id uuid.UUID, fn func(*domain.Endpoint) error) (domain.Endpoint, error)
	// EnableEndpoint enables the endpoint with id and makes each of its
	// messages due at now again, from its first try, expiring at
	// expiresAt. domain.ErrNotFound for an unknown id.
	EnableEndpoint(ctx context.Context, id uuid.UUID, now, expiresAt time.Time) (domain.Endpoint, error)
	// DeleteEndpoint deletes the endpoint with id, its messages and its
	// attempts. domain.ErrNotFound for an unknown id.
	DeleteEndpoint(ctx context.Context, id uuid.UUID) error
	// PendingMessages returns how many messages wait for each of the
	// endpoints ids (those without any left out).
	PendingMessages(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int, error)

	// Subscribers returns the enabled endpoints that subscribe to any of
	// eventTypes.
	Subscribers(ctx context.Context, eventTypes []string) ([]domain.Endpoint, error)
	// Enqueue stores msgs, leaving out each whose (EndpointID, EventKey)
	// is stored already or whose endpoint no longer exists, and returns
	// how many it stored.
	Enqueue(ctx context.Context, msgs []domain.Message) (int, error)
	// Claim takes up to limit messages of the endpoint due at now, the
	// earliest first, skipping those another dispatcher holds: each
	// taken is counted a try (Attempts + 1) and leased until leaseUntil
	// (NextAttemptAt), when it is due again if its try was never
	// recorded.
	Claim(ctx context.Context, endpointID uuid.UUID, now, leaseUntil time.Time, limit int) ([]domain.Message, error)
	// Record writes the result of the try of a claimed message m, in one
	// transaction: the attempt a in the endpoint's history (trimmed to its
	// last domain.HistorySize; a.Seq is set), and, unless m was claimed
	// again since (its Attempts changed), what the outcome o makes of m
	// (Delivered and GiveUp delete it, Retry makes it due at
	// o.NextAttemptAt, Gone leaves it waiting) and of the endpoint
	// (Delivered sets LastSuccessAt; o.DisableReason disables it, unless
	// it is disabled already or, for GiveUp, it took a message since m
	// was made). It reports whether it disabled the endpoint. A message or
	// an endpoint deleted meanwhile is no error.
	Record(ctx context.Context, m domain.Message, a domain.Attempt, o domain.Outcome) (disabled bool, err error)
	// ListAttempts returns a page of the endpoint's history, the most
	// recent first, after cursor (empty: from the start); the next
	// page's cursor is empty after the last. ErrInvalidCursor for a
	// cursor it did not issue.
	ListAttempts(ctx context.Context, endpointID uuid.UUID, limit int, cursor string) ([]domain.Attempt, string, error)
	// CountMessages returns how many messages wait, for every endpoint.
	CountMessages(ctx context.Context) (int64, error)
}
