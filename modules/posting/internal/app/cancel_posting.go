package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// CancelPostingHandler cancels postings that are not finished.
type CancelPostingHandler struct {
	store  domain.Store
	tx     TxRunner
	events EventPublisher
	clock  clock.Clock
	log    *slog.Logger
}

// NewCancelPostingHandler returns the handler; every dependency is required.
func NewCancelPostingHandler(store domain.Store, tx TxRunner, events EventPublisher, clk clock.Clock, logger *slog.Logger) (*CancelPostingHandler, error) {
	if store == nil || tx == nil || events == nil || clk == nil || logger == nil {
		return nil, errors.New("new cancel posting handler: nil dependency")
	}
	return &CancelPostingHandler{store: store, tx: tx, events: events, clock: clk, log: logger}, nil
}

// Handle cancels the posting with id and publishes posting.PostingCancelled,
// so that nothing of it not yet sent is sent, and posting.PostingFinished;
// the status and the events are written in one transaction. It returns an *Error with CodeNotFound for an
// unknown (or malformed) id and CodeConflict for a posting already
// finished.
func (h *CancelPostingHandler) Handle(ctx context.Context, id string) (domain.Posting, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return domain.Posting{}, notFound(id)
	}
	now := h.clock.Now()
	var p domain.Posting
	err = h.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		p, err = h.store.Update(ctx, uid, func(p *domain.Posting) error {
			if err := p.Cancel(now); err != nil {
				return &Error{Code: CodeConflict, Message: fmt.Sprintf("posting is already %s", p.Status)}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := h.events.Publish(ctx, posting.PostingCancelled{PostingID: p.ID.String(), CancelledAt: now, Priority: p.Priority}); err != nil {
			return fmt.Errorf("publish posting cancelled: %w", err)
		}
		return publishFinished(ctx, h.events, p)
	})
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return domain.Posting{}, notFound(id)
	case ErrorCodeOf(err) != "":
		return domain.Posting{}, err
	case err != nil:
		return domain.Posting{}, fmt.Errorf("cancel posting: %w", err)
	}
	h.log.InfoContext(ctx, "posting cancelled", "posting_id", p.ID)
	return p, nil
}
