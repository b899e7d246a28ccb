// Package app holds the preferences module's use cases, one per file: the
// audience filter (an event handler) and the preferences queries and
// commands behind the HTTP port.
package app

import (
	"context"

	"github.com/notifier/notifier/modules/preferences/internal/domain"
)

// Store keeps each user's overrides. Implementations must be safe for
// concurrent use, also across several service instances sharing storage.
// Every adapter passes storetest.Run.
type Store interface {
	// Get returns the stored preferences of userID; found is false (and the
	// error nil) when the user never stored any.
	Get(ctx context.Context, userID string) (prefs domain.UserPreferences, found bool, err error)
	// GetMany returns, in one round trip, the stored preferences of those of
	// userIDs that have any, keyed by user id. Ids without preferences are
	// absent from the map; duplicates are allowed. It is meant for a batch
	// of up to a few thousand ids.
	GetMany(ctx context.Context, userIDs []string) (map[string]domain.UserPreferences, error)
	// Put atomically replaces the stored preferences of prefs.UserID
	// (overrides and UpdatedAt) with prefs; nothing of the previous value
	// is kept.
	Put(ctx context.Context, prefs domain.UserPreferences) error
	// Update atomically reads the stored preferences of userID (zero but
	// for UserID when there are none), passes them to change and stores
	// what it returns, which it also returns; concurrent updates of one
	// user take turns, so none is lost. When change fails, nothing is
	// stored and its error is returned (wrapped).
	Update(ctx context.Context, userID string, change func(domain.UserPreferences) (domain.UserPreferences, error)) (domain.UserPreferences, error)
}

// CommandSender sends a command to its handler (a *cqrs.CommandBus).
type CommandSender interface {
	Send(ctx context.Context, cmd any) error
}
