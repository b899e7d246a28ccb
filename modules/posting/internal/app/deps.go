package app

import (
	"context"

	"github.com/notifier/notifier/modules/posting"
)

// CommandSender sends commands on the command bus (*cqrs.CommandBus).
type CommandSender interface {
	Send(ctx context.Context, cmd any) error
}

// EventPublisher publishes events on the event bus (*cqrs.EventBus).
type EventPublisher interface {
	Publish(ctx context.Context, event any) error
}

// ExpandAudience asks for page Page (from 1) of a posting's audience to be
// fetched and published. It is internal to the posting module: the module
// sends it to itself, so that a walk over a large audience is one short
// message per page and resumes where it stopped.
type ExpandAudience struct {
	PostingID string `json:"posting_id"`
	Page      int    `json:"page"`
	// Priority is the posting's lane; empty (bulk) in commands of
	// versions before it was added.
	Priority posting.Priority `json:"priority,omitempty"`
}

// Name returns the wire name.
func (ExpandAudience) Name() string { return "posting.ExpandAudience.v1" }

// PostingRef returns the posting whose audience it walks, for its traces.
func (c ExpandAudience) PostingRef() string { return c.PostingID }

// RouteKey puts the command on its posting's lane.
func (c ExpandAudience) RouteKey() string {
	return posting.CreatePosting{Priority: c.Priority}.RouteKey()
}

// TxRunner runs fn in one transaction that the store writes and the
// messages sent with the context it passes join, so that they take effect
// together or not at all (db.TxRunner: db.PoolRunner with PostgreSQL and an
// outbox publisher, db.NoTx in memory mode). When ctx already carries a
// unit of work (a message handler's), fn joins it.
type TxRunner interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}
