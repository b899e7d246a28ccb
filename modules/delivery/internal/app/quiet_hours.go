package app

import (
	"context"
	"fmt"
	"time"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/quiethours"
)

// DeferredBatch is the part of a batch that waits for the end of its
// recipients' quiet hours: the batch's command with those items only, to
// be handled again once NotBefore has passed.
type DeferredBatch struct {
	Batch     BatchKey
	NotBefore time.Time
	Command   delivery.DeliverBatch
}

// DeferredStore keeps deferred batches until they are due, in the store
// (PostgreSQL outside memory mode), so that no worker, connection or
// memory is held while they wait, however many there are.
type DeferredStore interface {
	// Defer stores batches; a batch already stored for the same BatchKey
	// and NotBefore (a redelivered batch deferring again) is kept as it
	// is.
	Defer(ctx context.Context, batches []DeferredBatch) error
	// Due passes up to limit batches whose NotBefore is at or before now,
	// earliest first, to resume and forgets them once it returns nil (in
	// one transaction with what resume wrote, where the store has them);
	// concurrent callers get different batches. It returns how many were
	// resumed.
	Due(ctx context.Context, now time.Time, limit int, resume func(ctx context.Context, due []DeferredBatch) error) (int, error)
}

// WithQuietHours makes bulk deliveries whose item carries quiet hours
// (delivery.Item.QuietHours) wait out the window: a row that would be sent
// in it is left pending and its items are stored in deferred until the
// window ends (ResumeDeferredBatches sends the batch again then); a row
// whose batch expires first ends expired.
func WithQuietHours(deferred DeferredStore) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.deferred = deferred }
}

// zones caches the time zones of quiet hours for every handler.
var zones quiethours.Zones

// withoutQuiet returns the rows to send now; of the others, those whose
// window ends after the batch's expiry become expired transitions, and the
// rest are stored as deferred batches, one per window end.
func (h *DeliverBatchHandler) withoutQuiet(ctx context.Context, cmd delivery.DeliverBatch, rows []*row, now time.Time) ([]*row, []Transition, error) {
	if h.deferred == nil || len(rows) == 0 {
		return rows, nil, nil
	}
	quiet := make(map[domain.Key]delivery.Item)
	for _, it := range cmd.Items {
		if it.QuietHours != nil {
			quiet[domain.Key{PostingID: cmd.PostingID, UserID: it.Recipient.UserID, Channel: it.Channel}] = it
		}
	}
	if len(quiet) == 0 {
		return rows, nil, nil
	}
	keep := make([]*row, 0, len(rows))
	var expired []Transition
	waiting := map[time.Time][]delivery.Item{}
	for _, r := range rows {
		it, ok := quiet[r.key]
		if !ok {
			keep = append(keep, r)
			continue
		}
		end, inside := quietUntil(*it.QuietHours, now)
		switch {
		case !inside:
			keep = append(keep, r)
		case cmd.ExpiresAt != nil && !end.Before(*cmd.ExpiresAt):
			expired = append(expired, Transition{Key: r.key, Final: Final{
				Status: delivery.StatusExpired, At: now,
				Error: fmt.Sprintf("expired during quiet hours (until %s)", end.UTC().Format(time.RFC3339)),
			}})
		default:
			waiting[end] = append(waiting[end], it)
		}
	}
	if len(waiting) == 0 {
		return keep, expired, nil
	}
	batches := make([]DeferredBatch, 0, len(waiting))
	for end, items := range waiting {
		c := cmd
		c.Items, c.Skipped = items, nil
		if c.TemplateContextRef != "" {
			c.TemplateContext = nil // stored once already; the resumed batch reads it again
		}
		batches = append(batches, DeferredBatch{
			Batch:     BatchKey{PostingID: cmd.PostingID, Lane: cmd.Lane, BatchNo: cmd.BatchNo},
			NotBefore: end, Command: c,
		})
	}
	if err := h.deferred.Defer(ctx, batches); err != nil {
		return nil, nil, fmt.Errorf("defer deliveries in quiet hours: %w", err)
	}
	n := len(rows) - len(keep) - len(expired)
	h.logger.InfoContext(ctx, "deliveries wait for the end of quiet hours",
		"posting_id", cmd.PostingID, "batch_no", cmd.BatchNo, "deferred", n, "windows", len(batches))
	return keep, expired, nil
}

// quietUntil reports whether now is in q and when it ends. A malformed
// window is none (preferences checked it); an unknown zone is UTC
// (preferences gave a known one, but the zone database may differ).
func quietUntil(q delivery.QuietHours, now time.Time) (time.Time, bool) {
	w, err := quiethours.Parse(q.Start, q.End)
	if err != nil {
		return time.Time{}, false
	}
	loc, ok := zones.Location(q.Zone)
	if !ok {
		loc = time.UTC
	}
	return w.Until(now, loc)
}
