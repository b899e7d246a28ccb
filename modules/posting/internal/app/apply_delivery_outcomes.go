package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// ApplyDeliveryOutcomesHandler adds the final statuses the delivery module
// reports to a posting's counters, completes the posting when every
// delivery of it is final (publishing posting.PostingFinished), and
// resumes an audience walk paused for delivery.
type ApplyDeliveryOutcomesHandler struct {
	store    domain.Store
	tx       TxRunner
	commands CommandSender
	events   EventPublisher
	clock    clock.Clock
	maxAhead int
	log      *slog.Logger
}

// NewApplyDeliveryOutcomesHandler returns the handler; every dependency is
// required and a maxAhead below 1 means DefaultMaxAhead (it must be the
// ExpandAudienceHandler's).
func NewApplyDeliveryOutcomesHandler(store domain.Store, tx TxRunner, commands CommandSender, events EventPublisher, clk clock.Clock,
	maxAhead int, logger *slog.Logger,
) (*ApplyDeliveryOutcomesHandler, error) {
	if store == nil || tx == nil || commands == nil || events == nil || clk == nil || logger == nil {
		return nil, errors.New("new apply delivery outcomes handler: nil dependency")
	}
	if maxAhead < 1 {
		maxAhead = DefaultMaxAhead
	}
	return &ApplyDeliveryOutcomesHandler{store: store, tx: tx, commands: commands, events: events, clock: clk, maxAhead: maxAhead,
		log: logger}, nil
}

// Handle applies e in one atomic store step, so that instances applying
// outcomes of one posting at once lose no count. Each outcome counts once
// per call: a redelivered event is dropped by the router's deduplicator
// before it gets here. Outcomes with a non-final status are ignored.
//
// When the posting's walk is paused (see ExpandAudienceHandler) and its
// outstanding deliveries are now at or below half the window, it clears
// the pause and sends ExpandAudience for the next page, in the same
// transaction as the counts. The pause is cleared by a conditional update
// under the posting's lock (with PostgreSQL, the lock the counting UPDATE
// took and holds to the end of the transaction), so of several handlers
// applying outcomes at once exactly one resumes; a duplicate command would
// be skipped by the page check anyway. A posting past its expiry is
// marked expired instead of resumed. A posting that these outcomes (or
// that expiry) finish is reported by posting.PostingFinished, in the same
// transaction. (In memory mode there is no
// transaction: a bus refusing the command after the pause was cleared
// would stall the walk, which the in-memory bus never does short of
// shutting down.)
//
// It returns an *Error (CodeInvalid or CodeNotFound) for an event about no
// posting of this store.
func (h *ApplyDeliveryOutcomesHandler) Handle(ctx context.Context, e delivery.DeliveryOutcomes) error {
	id, err := uuid.Parse(e.PostingID)
	if err != nil {
		return invalid("posting_id", "%q is not a uuid", e.PostingID)
	}
	var delta domain.Counters
	for _, o := range e.Outcomes {
		switch o.Status {
		case delivery.StatusSent:
			delta.Sent++
		case delivery.StatusFailed:
			delta.Failed++
		case delivery.StatusExpired:
			delta.Expired++
		case delivery.StatusSkipped:
			delta.Skipped++
		case delivery.StatusCancelled:
			delta.Cancelled++
		default:
			h.log.WarnContext(ctx, "delivery outcome ignored: not a final status", "posting_id", e.PostingID, "status", o.Status)
		}
	}
	var (
		p        domain.Posting
		resumed  bool
		finished bool
	)
	err = h.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if p, finished, err = h.store.AddOutcomes(ctx, id, delta, h.clock.Now()); err != nil {
			return err
		}
		if finished {
			return publishFinished(ctx, h.events, p)
		}
		if !p.WalkPaused {
			return nil
		}
		if resumable := p; !resumable.ResumeWalk(h.maxAhead, h.clock.Now()) {
			return nil
		}
		p, resumed, finished, err = h.resume(ctx, p)
		return err
	})
	if errors.Is(err, domain.ErrNotFound) {
		return notFound(e.PostingID)
	}
	if err != nil {
		return fmt.Errorf("apply delivery outcomes: %w", err)
	}
	if resumed {
		h.log.InfoContext(ctx, "audience walk resumed", "posting_id", p.ID, "next_page", p.NextPage,
			"outstanding", p.Outstanding())
	}
	if finished {
		h.log.InfoContext(ctx, "posting finished", "posting_id", p.ID, "status", p.Status,
			"sent", p.Counters.Sent, "failed", p.Counters.Failed, "skipped", p.Counters.Skipped,
			"expired", p.Counters.Expired, "cancelled", p.Counters.Cancelled)
	}
	return nil
}

// resume clears the walk's pause under the posting's lock and asks for
// the next page. It reports false when another handler resumed the walk
// first or the posting finished meanwhile, and finished when it expired
// the posting (and published so); it returns the posting as written, or
// counted as given.
func (h *ApplyDeliveryOutcomesHandler) resume(ctx context.Context, counted domain.Posting) (p domain.Posting, resumed, finished bool, err error) {
	var expired bool
	p, err = h.store.Update(ctx, counted.ID, func(p *domain.Posting) error {
		now := h.clock.Now()
		if p.WalkPaused && !p.Status.Terminal() && p.ExpiredAt(now) {
			p.Expire(now)
			expired = true
			return nil
		}
		if !p.ResumeWalk(h.maxAhead, now) {
			return errStop
		}
		return nil
	})
	switch {
	case errors.Is(err, errStop):
		return counted, false, false, nil
	case err != nil:
		return counted, false, false, fmt.Errorf("resume walk: %w", err)
	case expired:
		h.log.InfoContext(ctx, "posting expired while its walk was paused", "posting_id", p.ID)
		return p, false, true, publishFinished(ctx, h.events, p)
	}
	if err := h.commands.Send(ctx, ExpandAudience{PostingID: p.ID.String(), Page: p.NextPage, Priority: p.Priority}); err != nil {
		return p, false, false, fmt.Errorf("send expand audience page %d: %w", p.NextPage, err)
	}
	return p, true, false, nil
}
