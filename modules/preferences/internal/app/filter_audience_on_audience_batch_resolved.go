package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/messaging"
)

// PreferencesLoader loads the stored preferences of many users at once.
type PreferencesLoader interface {
	GetMany(ctx context.Context, userIDs []string) (map[string]domain.UserPreferences, error)
}

// FilterAudienceOnAudienceBatchResolved keeps, of each resolved audience
// batch, the (recipient, channel) pairs the recipient opted in to (all of
// them for a mandatory type) and that have an address, and sends one
// delivery.DeliverBatch with them and with the skipped pairs and their
// reasons, on the lane of the posting's priority. It sends the command even
// when every pair is skipped, so that delivery records the skips and the
// posting's counters complete.
//
// It is idempotent: the same batch yields the same command, and delivery
// ignores pairs it already has.
type FilterAudienceOnAudienceBatchResolved struct {
	prefs    PreferencesLoader
	policy   *domain.Policy
	commands CommandSender
	logger   *slog.Logger
}

// NewFilterAudienceOnAudienceBatchResolved returns the handler; every
// dependency is required.
func NewFilterAudienceOnAudienceBatchResolved(prefs PreferencesLoader, policy *domain.Policy, commands CommandSender, logger *slog.Logger) (*FilterAudienceOnAudienceBatchResolved, error) {
	if prefs == nil || policy == nil || commands == nil || logger == nil {
		return nil, errors.New("new FilterAudienceOnAudienceBatchResolved: preferences, policy, command sender and logger are required")
	}
	return &FilterAudienceOnAudienceBatchResolved{prefs: prefs, policy: policy, commands: commands, logger: logger}, nil
}

// HandlerName returns the handler's stable name.
func (h *FilterAudienceOnAudienceBatchResolved) HandlerName() string {
	return "preferences.FilterAudienceOnAudienceBatchResolved"
}

// NewEvent returns the event the handler consumes.
func (h *FilterAudienceOnAudienceBatchResolved) NewEvent() any {
	return &posting.AudienceBatchResolved{}
}

// Handle filters one batch and sends its DeliverBatch. A failure to load
// preferences or to send is returned for a retry; a malformed event is
// permanent.
func (h *FilterAudienceOnAudienceBatchResolved) Handle(ctx context.Context, event any) error {
	batch, ok := event.(*posting.AudienceBatchResolved)
	if !ok || batch == nil {
		return messaging.Permanent(fmt.Errorf("filter audience: unexpected event %T", event))
	}
	if batch.PostingID == "" {
		return messaging.Permanent(errors.New("filter audience: batch without posting id"))
	}

	recipients := h.recipients(batch)
	prefs, err := h.load(ctx, batch.NotificationType, recipients)
	if err != nil {
		return err
	}

	cmd := delivery.DeliverBatch{
		PostingID:          batch.PostingID,
		BatchNo:            batch.BatchNo,
		Lane:               laneOf(batch.Priority),
		NotificationType:   batch.NotificationType,
		Template:           batch.Template,
		TemplateContext:    batch.TemplateContext,
		TemplateContextRef: batch.TemplateContextRef,
		ExpiresAt:          batch.ExpiresAt,
		Unsubscribe:        !h.policy.Mandatory(batch.NotificationType),
		WebhookURL:         batch.WebhookURL,
		Items:              []delivery.Item{},
	}
	channels := uniq(batch.Channels)
	for _, r := range recipients {
		overrides := prefs[r.UserID].Overrides
		// The posting's webhook URL, when it has one, stands for every
		// recipient's own.
		webhookURL := strings.TrimSpace(r.WebhookURL)
		if batch.WebhookURL != "" {
			webhookURL = batch.WebhookURL
		}
		contact := domain.Contact{UserID: r.UserID, Email: r.Email, Phone: r.Phone, WebhookURL: webhookURL}
		for _, ch := range channels {
			if reason := h.policy.Decide(overrides, batch.NotificationType, ch, contact); reason != "" {
				cmd.Skipped = append(cmd.Skipped, delivery.SkippedItem{UserID: r.UserID, Channel: ch, Reason: reason})
				continue
			}
			item := delivery.Item{Channel: ch, Recipient: toDeliveryRecipient(r)}
			if ch == domain.ChannelWebhook && batch.WebhookURL == "" {
				// Only the webhook item carries the user's URL (it may hold
				// the receiver's credential); the posting's goes once, in
				// the command.
				item.Recipient.WebhookURL = webhookURL
			}
			if batch.Priority != posting.PriorityTransactional {
				if q, zone, ok := h.policy.QuietHours(overrides, batch.NotificationType, r.Timezone); ok {
					item.QuietHours = &delivery.QuietHours{Start: q.Start, End: q.End, Zone: zone}
				}
			}
			cmd.Items = append(cmd.Items, item)
		}
	}

	if err := h.commands.Send(ctx, cmd); err != nil {
		return fmt.Errorf("filter audience: send deliver batch %s#%d: %w", batch.PostingID, batch.BatchNo, err)
	}
	h.logger.DebugContext(ctx, "audience batch filtered",
		"posting_id", batch.PostingID, "batch_no", batch.BatchNo, "lane", cmd.Lane,
		"recipients", len(recipients), "deliver", len(cmd.Items), "skipped", len(cmd.Skipped))
	return nil
}

// recipients returns the batch's recipients, each user once, in order.
// A recipient without a user id cannot be delivered to nor recorded; it is
// dropped with a warning.
func (h *FilterAudienceOnAudienceBatchResolved) recipients(batch *posting.AudienceBatchResolved) []posting.Recipient {
	seen := make(map[string]struct{}, len(batch.Recipients))
	out := make([]posting.Recipient, 0, len(batch.Recipients))
	dropped := 0
	for _, r := range batch.Recipients {
		if r.UserID == "" {
			dropped++
			continue
		}
		if _, dup := seen[r.UserID]; dup {
			continue
		}
		seen[r.UserID] = struct{}{}
		out = append(out, r)
	}
	if dropped > 0 {
		h.logger.Warn("audience batch has recipients without user id; dropped",
			"posting_id", batch.PostingID, "batch_no", batch.BatchNo, "dropped", dropped)
	}
	return out
}

// load fetches the recipients' preferences in one store call. A mandatory
// type ignores them, so it needs none: confirmation codes do not wait on
// the preferences store.
func (h *FilterAudienceOnAudienceBatchResolved) load(ctx context.Context, typ string, recipients []posting.Recipient) (map[string]domain.UserPreferences, error) {
	if h.policy.Mandatory(typ) || len(recipients) == 0 {
		return nil, nil
	}
	ids := make([]string, len(recipients))
	for i, r := range recipients {
		ids[i] = r.UserID
	}
	prefs, err := h.prefs.GetMany(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("filter audience: load preferences of %d users: %w", len(ids), err)
	}
	return prefs, nil
}

// laneOf maps a posting's priority to a delivery lane; anything but
// transactional is bulk.
func laneOf(p posting.Priority) string {
	if p == posting.PriorityTransactional {
		return delivery.LaneTransactional
	}
	return delivery.LaneBulk
}

func uniq(channels []string) []string {
	out := make([]string, 0, len(channels))
	for _, ch := range channels {
		if !slices.Contains(out, ch) {
			out = append(out, ch)
		}
	}
	return out
}

func toDeliveryRecipient(r posting.Recipient) delivery.Recipient {
	return delivery.Recipient{
		UserID:    r.UserID,
		Email:     r.Email,
		Phone:     r.Phone,
		Username:  r.Username,
		FirstName: r.FirstName,
		Locale:    r.Locale,
		Timezone:  r.Timezone,
	}
}
