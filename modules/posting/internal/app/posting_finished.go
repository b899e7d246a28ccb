package app

import (
	"context"
	"fmt"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
)

// publishFinished publishes posting.PostingFinished for p, which has just
// reached a final status, with ctx: in the transaction that wrote it.
func publishFinished(ctx context.Context, events EventPublisher, p domain.Posting) error {
	at := p.UpdatedAt
	if p.CompletedAt != nil {
		at = *p.CompletedAt
	}
	e := posting.PostingFinished{
		PostingID:        p.ID.String(),
		Status:           string(p.Status),
		NotificationType: p.NotificationType,
		FromEvent:        p.FromEvent,
		Priority:         p.Priority,
		Error:            p.Error,
		Counters: posting.Counters{
			Recipients: p.Counters.Recipients,
			Skipped:    p.Counters.Skipped,
			Sent:       p.Counters.Sent,
			Failed:     p.Counters.Failed,
			Expired:    p.Counters.Expired,
			Cancelled:  p.Counters.Cancelled,
		},
		FinishedAt: at.UTC(),
	}
	if err := events.Publish(ctx, e); err != nil {
		return fmt.Errorf("publish posting finished: %w", err)
	}
	return nil
}

// finishing runs fn on a posting being updated and reports, through
// *finished, whether fn moved it to a final status.
func finishing(finished *bool, fn func(p *domain.Posting) error) func(p *domain.Posting) error {
	return func(p *domain.Posting) error {
		was := p.Status.Terminal()
		if err := fn(p); err != nil {
			return err
		}
		*finished = !was && p.Status.Terminal()
		return nil
	}
}
