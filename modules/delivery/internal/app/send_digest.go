package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/messaging"
)

// ReasonDigestEmpty ends a digest none of whose parts could still go: each
// expired, was cancelled or ended otherwise while held.
const ReasonDigestEmpty = "empty digest: every held delivery expired or ended while held"

// sendDigest sends a closed digest as one message (a batch whose Digest is
// set, from FlushDigests) and ends its parts with the message's status.
//
// The message is the delivery row (digest posting id, user, channel), sent
// by the same steps as any batch's row: suppression, quiet hours, the
// rate limit, retries, failover. It is composed only while that row is
// pending: the parts whose rows are still pending and not expired now go
// in it (the others end expired, or stay as they ended); none left, and
// the row ends skipped with ReasonDigestEmpty, nothing sent. Its expiry is
// the latest of its parts'.
//
// Once the row is final, each part still pending takes its status (sent
// with the message's id and provider; failed, expired, skipped with the
// message's reason), and the parts' outcomes are reported to their
// postings; the digest's own row is marked reported without an event (it
// belongs to no posting). A redelivered batch composes nothing again: it
// only ends what an interrupted one left.
func (h *DeliverBatchHandler) sendDigest(ctx context.Context, cmd delivery.DeliverBatch) error {
	if h.digests == nil {
		return messaging.Permanent(errors.New("send digest: digests are not configured here"))
	}
	d, parts, found, err := h.digests.Load(ctx, cmd.Digest.ID)
	if err != nil {
		return fmt.Errorf("load digest: %w", err)
	}
	if !found || len(parts) == 0 {
		h.logger.WarnContext(ctx, "digest to send is unknown or has no parts; nothing to do", "digest_id", cmd.Digest.ID)
		return nil
	}
	if cmd.PostingID != delivery.DigestPostingID(d.ID) {
		return messaging.Permanent(fmt.Errorf("send digest: posting id %q is not the digest's", cmd.PostingID))
	}
	latest := parts[len(parts)-1]
	key := domain.Key{PostingID: cmd.PostingID, UserID: d.Key.UserID, Channel: d.Key.Channel}
	cmd.Lane, cmd.NotificationType, cmd.BatchNo = d.Lane, d.Key.Type, 0
	cmd.Items = []delivery.Item{{Channel: d.Key.Channel, Recipient: latest.Recipient, QuietHours: latest.QuietHours}}
	cmd.Skipped, cmd.TemplateContext, cmd.TemplateContextRef, cmd.ExpiresAt = nil, nil, "", nil
	cmd.WebhookURL = latest.WebhookURL
	policy, ok := h.digestPolicies[d.Key.Type]
	if !ok {
		// The type is no longer a digest: what was held still goes, as it
		// would have.
		policy = DigestPolicy{Template: DigestTemplateFor(d.Key.Type), MaxItems: DefaultDigestMaxItems}
	}
	cmd.Template = d.Key.Channel + "/" + policy.Template

	pending, work, end, err := h.startBatch(ctx, BatchKey{PostingID: cmd.PostingID, Lane: cmd.Lane}, []domain.Key{key})
	if err != nil {
		return fmt.Errorf("send digest: %w", err)
	}
	defer end()

	partKeys := make([]domain.Key, len(parts))
	for i, p := range parts {
		partKeys[i] = domain.Key{PostingID: p.PostingID, UserID: d.Key.UserID, Channel: d.Key.Channel}
	}
	var runErr error
	if len(pending) > 0 {
		var composed bool
		if composed, runErr = h.composeDigest(work, &cmd, key, parts, partKeys, policy); runErr == nil && composed {
			runErr = h.process(work, cmd, pending, map[domain.Key]delivery.Recipient{key: latest.Recipient}, nil)
		}
	}
	settleErr := h.settleDigest(context.WithoutCancel(ctx), cmd, key, partKeys)
	return errors.Join(runErr, settleErr)
}

// composeDigest fills cmd with the digest's context, expiry and
// unsubscribe flag from the parts still pending and not expired; it ends
// the expired ones, and those whose stored context is gone. It returns
// false, with the digest's row ended skipped, when no part is left.
func (h *DeliverBatchHandler) composeDigest(ctx context.Context, cmd *delivery.DeliverBatch, key domain.Key,
	parts []DigestPart, partKeys []domain.Key, policy DigestPolicy,
) (bool, error) {
	now := h.clock.Now()
	// The parts' rows exist (they were pending when held); InsertPending
	// only reads which still are.
	pendingParts, err := h.store.InsertPending(ctx, partKeys, now)
	if err != nil {
		return false, fmt.Errorf("read held deliveries: %w", err)
	}
	still := make(map[domain.Key]bool, len(pendingParts))
	for _, p := range pendingParts {
		still[p.Key] = true
	}
	var (
		ended    []Transition
		included []DigestPart
		contexts []map[string]any
	)
	for i, p := range parts {
		switch {
		case !still[partKeys[i]]:
			continue // cancelled or ended otherwise meanwhile
		case h.expired(p.ExpiresAt, now):
			ended = append(ended, Transition{Key: partKeys[i], Final: Final{
				Status: delivery.StatusExpired, Error: "expired while held for the digest", At: now,
			}})
			continue
		}
		c, err := h.partContext(ctx, p)
		if err != nil {
			if !errors.Is(err, errClaimGone) {
				return false, err
			}
			ended = append(ended, Transition{Key: partKeys[i], Final: Final{
				Status: delivery.StatusFailed, Error: "template context no longer stored", At: now,
			}})
			continue
		}
		included = append(included, p)
		contexts = append(contexts, c)
	}
	if len(ended) > 0 {
		if _, err := h.store.FinishMany(ctx, ended); err != nil {
			return false, fmt.Errorf("finish held deliveries: %w", err)
		}
	}
	if len(included) == 0 {
		if _, err := h.finish(ctx, key, Final{Status: delivery.StatusSkipped, Error: ReasonDigestEmpty, At: now}); err != nil {
			return false, err
		}
		h.logger.InfoContext(ctx, "digest empty; nothing sent", "posting_id", key.PostingID, "parts", len(parts))
		return false, nil
	}
	cmd.TemplateContext = digestContext(included, contexts, policy)
	cmd.ExpiresAt = latestExpiry(included)
	for _, p := range included {
		cmd.Unsubscribe = cmd.Unsubscribe || p.Unsubscribe
	}
	h.logger.InfoContext(ctx, "digest composed", "posting_id", key.PostingID, "type", cmd.NotificationType,
		"channel", key.Channel, "parts", len(included), "dropped", len(parts)-len(included))
	return true, nil
}

// errClaimGone is a part's stored context that can no longer be read.
var errClaimGone = errors.New("template context no longer stored")

// partContext returns a part's template context, read from the claim
// check when the part kept only its reference.
func (h *DeliverBatchHandler) partContext(ctx context.Context, p DigestPart) (map[string]any, error) {
	if p.ContextRef == "" {
		if p.Context == nil {
			return map[string]any{}, nil
		}
		return p.Context, nil
	}
	if h.claims == nil {
		return nil, errClaimGone
	}
	raw, err := h.claims.Get(ctx, p.ContextRef)
	if err != nil {
		if h.claimMissing != nil && h.claimMissing(err) {
			return nil, errClaimGone
		}
		return nil, fmt.Errorf("read template context: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errClaimGone
	}
	return c, nil
}

// latestExpiry returns the latest expiry of parts, nil when one has none.
func latestExpiry(parts []DigestPart) *time.Time {
	var latest *time.Time
	for _, p := range parts {
		if p.ExpiresAt == nil {
			return nil
		}
		if latest == nil || p.ExpiresAt.After(*latest) {
			t := *p.ExpiresAt
			latest = &t
		}
	}
	return latest
}

// settleDigest ends the parts still pending with the status of the
// digest's row, once it is final, then reports the parts' outcomes to
// their postings. The row is marked reported (no event: it belongs to no
// posting) after the parts are ended, so that an interrupted settle is
// done again by the redelivered batch.
func (h *DeliverBatchHandler) settleDigest(ctx context.Context, cmd delivery.DeliverBatch, key domain.Key, partKeys []domain.Key) error {
	_, err := h.store.Report(ctx, ReportScope{PostingID: key.PostingID, Keys: []domain.Key{key}},
		func(ctx context.Context, rows []domain.Delivery) error {
			for _, r := range rows {
				if m, ok := h.metrics.(DigestMetrics); ok {
					result := r.Status
					if r.Status == delivery.StatusSkipped && r.Error == ReasonDigestEmpty {
						result = DigestEmpty
					}
					m.DigestEnded(cmd.NotificationType, key.Channel, result)
				}
				f := partFinal(r)
				ts := make([]Transition, len(partKeys))
				for i, k := range partKeys {
					ts[i] = Transition{Key: k, Final: f}
				}
				if _, err := h.store.FinishMany(ctx, ts); err != nil {
					return fmt.Errorf("finish held deliveries: %w", err)
				}
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("settle digest: %w", err)
	}
	lane := cmd.RouteKey()
	var errs []error
	total := reported{}
	for _, k := range partKeys {
		counts, err := reportOutcomes(ctx, h.store, h.events, ReportScope{PostingID: k.PostingID, Keys: []domain.Key{k}}, lane)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for rk, n := range counts {
			total[rk] += n
		}
	}
	total.count(h.metrics, lane)
	return errors.Join(errs...)
}

// partFinal is the final state of a held delivery whose digest's row
// ended as r.
func partFinal(r domain.Delivery) Final {
	f := Final{Status: r.Status, At: r.UpdatedAt}
	switch r.Status {
	case delivery.StatusSent:
		f.MessageID, f.Provider, f.At = r.MessageID, r.Provider, r.SentAt
	case delivery.StatusSkipped:
		f.Error = r.Error
	default:
		f.Error = "digest " + r.Status + ": " + r.Error
	}
	if f.At.IsZero() {
		f.At = r.UpdatedAt
	}
	return f
}
