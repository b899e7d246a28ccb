package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/quiethours"
)

// DigestPolicy makes a notification type a digest: its bulk deliveries to
// one user on one channel are held and go as one message listing them.
type DigestPolicy struct {
	// Window holds the deliveries from the first one for this long; when
	// it is zero, At does.
	Window time.Duration
	// At is a wall-clock time in minutes after midnight: the deliveries
	// are held until the user's clock next reads it.
	At int
	// Channels are the channels held; nil: every channel.
	Channels []string
	// Template is the file name of the digest's template under each
	// channel's directory ("reactions_digest.md").
	Template string
	// GroupBy names a context field the items are grouped by (optional).
	GroupBy string
	// MaxItems caps the items listed (the newest); at least 1.
	MaxItems int
}

// holds reports whether the policy holds deliveries on channel.
func (p DigestPolicy) holds(channel string) bool {
	return p.Channels == nil || slices.Contains(p.Channels, channel)
}

// due returns when a digest opened at now goes, for a user in loc.
func (p DigestPolicy) due(now time.Time, loc *time.Location) time.Time {
	if p.Window > 0 {
		return now.Add(p.Window)
	}
	return quiethours.Next(p.At, now, loc)
}

// DefaultDigestMaxItems is the items a digest lists when its type is no
// longer configured (config.DefaultDigestMaxItems otherwise).
const DefaultDigestMaxItems = 50

// DigestTemplateFor returns the template file name of the digests of typ
// when the policy names none: "<type>_digest.md".
func DigestTemplateFor(typ string) string { return typ + "_digest.md" }

// WithDigests holds the bulk deliveries of the types in policies in store
// until their digest is due (FlushDigests closes it and sends its batch,
// which this handler turns into one message). defaultZone is the time
// zone of users whose directory record names none or an unknown one (for
// At).
func WithDigests(store DigestStore, policies map[string]DigestPolicy, defaultZone *time.Location) DeliverBatchOption {
	return func(h *DeliverBatchHandler) {
		h.digests, h.digestPolicies, h.digestZone = store, maps.Clone(policies), defaultZone
		if h.digestZone == nil {
			h.digestZone = time.UTC
		}
	}
}

// withoutHeld holds the rows of a digest type (bulk lane, a channel the
// policy holds, not already expired) in their digests and returns the
// others. The held rows stay pending: the digest's message ends them.
func (h *DeliverBatchHandler) withoutHeld(ctx context.Context, cmd delivery.DeliverBatch, rows []*row, now time.Time) ([]*row, error) {
	if h.digests == nil || cmd.Digest != nil || cmd.RouteKey() != delivery.LaneBulk || len(rows) == 0 {
		return rows, nil
	}
	policy, ok := h.digestPolicies[cmd.NotificationType]
	if !ok || h.expired(cmd.ExpiresAt, now) {
		return rows, nil
	}
	quiet := make(map[domain.Key]*delivery.QuietHours)
	for _, it := range cmd.Items {
		if it.QuietHours != nil {
			quiet[domain.Key{PostingID: cmd.PostingID, UserID: it.Recipient.UserID, Channel: it.Channel}] = it.QuietHours
		}
	}
	keep := make([]*row, 0, len(rows))
	var held []HeldPart
	for _, r := range rows {
		if !policy.holds(r.key.Channel) {
			keep = append(keep, r)
			continue
		}
		part := DigestPart{
			PostingID:   cmd.PostingID,
			Recipient:   r.recipient,
			QuietHours:  quiet[r.key],
			Unsubscribe: cmd.Unsubscribe,
			WebhookURL:  cmd.WebhookURL,
			Template:    cmd.Template,
			ExpiresAt:   cmd.ExpiresAt,
			AddedAt:     now,
		}
		if cmd.TemplateContextRef != "" {
			part.ContextRef = cmd.TemplateContextRef
		} else {
			part.Context = cmd.TemplateContext
		}
		held = append(held, HeldPart{
			Key:  DigestKey{UserID: r.key.UserID, Type: cmd.NotificationType, Channel: r.key.Channel},
			Lane: delivery.LaneBulk,
			Due:  policy.due(now, h.userZone(r.recipient)),
			Part: part,
		})
	}
	if len(held) == 0 {
		return rows, nil
	}
	if err := h.digests.Hold(ctx, held); err != nil {
		return nil, fmt.Errorf("hold deliveries for their digests: %w", err)
	}
	if m, ok := h.metrics.(DigestMetrics); ok {
		byChannel := map[string]int{}
		for _, p := range held {
			byChannel[p.Key.Channel]++
		}
		for ch, n := range byChannel {
			m.DigestHeld(cmd.NotificationType, ch, n)
		}
	}
	h.logger.InfoContext(ctx, "deliveries held for their digests",
		"posting_id", cmd.PostingID, "batch_no", cmd.BatchNo, "type", cmd.NotificationType, "held", len(held))
	return keep, nil
}

// userZone returns the recipient's time zone, the default zone when the
// directory names none or one unknown here.
func (h *DeliverBatchHandler) userZone(r delivery.Recipient) *time.Location {
	if loc, ok := zones.Location(r.Timezone); ok {
		return loc
	}
	return h.digestZone
}
