package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"strings"
	"time"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/logging"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/templating"
)

// DeliverBatchHandler delivers one batch of a posting: it records a row per
// (user, channel), sends what is still pending through the channel's
// Sender, retries transient failures within the expiry, and publishes one
// delivery.DeliveryOutcomes event with every row of the batch that became
// final and was not reported yet.
//
// It is idempotent: a redelivered batch sends only the rows not final yet
// and reports only what was never reported.
type DeliverBatchHandler struct {
	store    Store
	renderer Renderer
	senders  Senders
	events   EventPublisher
	clock    clock.Clock
	policy   RetryPolicy
	logger   *slog.Logger
	sleep    Sleep
	jitter   Jitter
}

// DeliverBatchOption tunes a DeliverBatchHandler.
type DeliverBatchOption func(*DeliverBatchHandler)

// WithSleep replaces the wait between retries (tests advance a fake clock
// instead of sleeping). The sleep must return ctx's error when ctx ends.
func WithSleep(s Sleep) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.sleep = s }
}

// WithJitter replaces the random spread of retry delays.
func WithJitter(j Jitter) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.jitter = j }
}

// NewDeliverBatchHandler returns a DeliverBatchHandler. Every dependency is
// required, senders must hold at least one channel and policy at least one
// attempt.
func NewDeliverBatchHandler(
	store Store,
	renderer Renderer,
	senders Senders,
	events EventPublisher,
	clk clock.Clock,
	policy RetryPolicy,
	logger *slog.Logger,
	opts ...DeliverBatchOption,
) (*DeliverBatchHandler, error) {
	if store == nil || renderer == nil || events == nil || clk == nil || logger == nil {
		return nil, errors.New("new deliver batch handler: store, renderer, events, clock and logger are required")
	}
	if len(senders) == 0 {
		return nil, errors.New("new deliver batch handler: no sender")
	}
	for ch, s := range senders {
		if s == nil {
			return nil, fmt.Errorf("new deliver batch handler: nil sender for channel %q", ch)
		}
	}
	if policy.MaxAttempts < 1 {
		return nil, errors.New("new deliver batch handler: max attempts must be at least 1")
	}
	h := &DeliverBatchHandler{
		store: store, renderer: renderer, senders: maps.Clone(senders), events: events,
		clock: clk, policy: policy, logger: logger, sleep: sleep, jitter: equalJitter,
	}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// job is one pending delivery of the batch.
type job struct {
	row       domain.Delivery
	recipient delivery.Recipient
}

// drainGrace is how long a batch in flight goes on after its context ends
// (the service is stopping). It is shorter than the router's close timeout.
const drainGrace = 20 * time.Second

// drain returns a context that outlives ctx by grace.
func drain(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-work.Done():
		case <-ctx.Done():
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-work.Done():
			case <-t.C:
				cancel()
			}
		}
	}()
	return work, cancel
}

// Handle delivers cmd. It returns an error only for what is worth retrying
// the whole batch for (the store failing, ctx ending, the outcomes not
// published); a malformed batch is refused with a messaging.Permanent error.
//
// Crash safety: each row's transition is committed as it happens (the store
// writes them outside the unit of work ctx may carry), and the report comes
// last: in ctx's unit of work, the batch's final rows not reported yet —
// also those an earlier, interrupted attempt left — are published in one
// DeliveryOutcomes event and marked reported. A process dying between a
// row's transition and the report, or a publish failing, leaves the row
// unreported, and the redelivered batch reports it; a reported row is never
// reported again.
func (h *DeliverBatchHandler) Handle(ctx context.Context, cmd delivery.DeliverBatch) error {
	if cmd.PostingID == "" {
		return messaging.Permanent(errors.New("deliver batch: empty posting_id"))
	}
	keys, recipients, skipped := h.collect(cmd)
	if len(keys) == 0 {
		return nil
	}
	pending, err := h.store.InsertPending(ctx, keys, h.clock.Now())
	if err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	// A shutdown drains the batch in flight: it goes on for up to
	// drainGrace after ctx ends, then stops cleanly between two sends.
	work, stop := drain(ctx, drainGrace)
	defer stop()
	runErr := h.process(work, cmd, pending, recipients, skipped)

	// Report even when ctx ended: what became final is reported now rather
	// than at the redelivery.
	counts, reportErr := reportOutcomes(context.WithoutCancel(ctx), h.store, h.events,
		ReportScope{PostingID: cmd.PostingID, Keys: keys})
	h.logger.InfoContext(ctx, "delivery batch processed",
		"posting_id", cmd.PostingID, "batch_no", cmd.BatchNo,
		"pending", len(pending), "reported", counts)
	return errors.Join(runErr, reportErr)
}

// collect turns the batch into keys (items first, then skipped pairs not
// also among the items), the recipient of each item key and the reason of
// each skipped key. Pairs without a user or a channel are dropped: they
// cannot be keyed.
func (h *DeliverBatchHandler) collect(cmd delivery.DeliverBatch) ([]domain.Key, map[domain.Key]delivery.Recipient, map[domain.Key]string) {
	keys := make([]domain.Key, 0, len(cmd.Items)+len(cmd.Skipped))
	recipients := make(map[domain.Key]delivery.Recipient, len(cmd.Items))
	skipped := make(map[domain.Key]string, len(cmd.Skipped))
	dropped := 0
	for _, it := range cmd.Items {
		k := domain.Key{PostingID: cmd.PostingID, UserID: it.Recipient.UserID, Channel: it.Channel}
		if !k.Valid() {
			dropped++
			continue
		}
		if _, dup := recipients[k]; !dup {
			recipients[k] = it.Recipient
			keys = append(keys, k)
		}
	}
	for _, s := range cmd.Skipped {
		k := domain.Key{PostingID: cmd.PostingID, UserID: s.UserID, Channel: s.Channel}
		if !k.Valid() {
			dropped++
			continue
		}
		_, isItem := recipients[k]
		_, dup := skipped[k]
		if isItem || dup {
			continue
		}
		reason := s.Reason
		if reason == "" {
			reason = "skipped"
		}
		skipped[k] = reason
		keys = append(keys, k)
	}
	if dropped > 0 {
		h.logger.Warn("delivery batch has items without user id or channel; dropped",
			"posting_id", cmd.PostingID, "batch_no", cmd.BatchNo, "dropped", dropped)
	}
	return keys, recipients, skipped
}

// process finishes the skipped rows, cancels everything when the posting is
// cancelled, and delivers the other pending rows one by one.
func (h *DeliverBatchHandler) process(
	ctx context.Context,
	cmd delivery.DeliverBatch,
	pending []domain.Delivery,
	recipients map[domain.Key]delivery.Recipient,
	skipped map[domain.Key]string,
) error {
	cancelled, err := h.store.IsCancelled(ctx, cmd.PostingID)
	if err != nil {
		return fmt.Errorf("check cancellation: %w", err)
	}
	now := h.clock.Now()
	var final []Transition
	jobs := make([]job, 0, len(pending))
	for _, row := range pending {
		switch reason, isSkipped := skipped[row.Key]; {
		case isSkipped:
			final = append(final, Transition{Key: row.Key, Final: Final{Status: delivery.StatusSkipped, Error: reason, At: now}})
		case cancelled:
			final = append(final, Transition{Key: row.Key, Final: cancelledAt(now)})
		default:
			jobs = append(jobs, job{row: row, recipient: recipients[row.Key]})
		}
	}
	if len(final) > 0 {
		if _, err := h.store.FinishMany(ctx, final); err != nil {
			return fmt.Errorf("finish skipped and cancelled deliveries: %w", err)
		}
	}
	// Sequential for now; each job is independent, so a pool of workers can
	// take over.
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := h.deliver(ctx, cmd, j); err != nil {
			return err
		}
	}
	return nil
}

func cancelledAt(at time.Time) Final {
	return Final{Status: delivery.StatusCancelled, Error: "posting cancelled", At: at}
}

// finish moves a pending row to its final state and reports whether this
// call did it.
func (h *DeliverBatchHandler) finish(ctx context.Context, key domain.Key, f Final) (bool, error) {
	_, changed, err := h.store.Finish(ctx, key, f)
	if err != nil {
		return false, fmt.Errorf("finish delivery as %s: %w", f.Status, err)
	}
	return changed, nil
}

func (h *DeliverBatchHandler) cancel(ctx context.Context, key domain.Key) error {
	_, err := h.finish(ctx, key, cancelledAt(h.clock.Now()))
	return err
}

// deliver renders and sends one pending row, retrying transient failures,
// and finishes it. It returns an error only when the store fails or ctx
// ends; the row then stays pending for the redelivered batch.
func (h *DeliverBatchHandler) deliver(ctx context.Context, cmd delivery.DeliverBatch, j job) error {
	key := j.row.Key
	if cancelled, err := h.store.IsCancelled(ctx, key.PostingID); err != nil {
		return fmt.Errorf("check cancellation: %w", err)
	} else if cancelled {
		return h.cancel(ctx, key)
	}
	if h.expired(cmd.ExpiresAt, h.clock.Now()) {
		_, err := h.finish(ctx, key, Final{Status: delivery.StatusExpired, Error: "expired before sending", At: h.clock.Now()})
		return err
	}
	msg, sender, reason := h.compose(cmd, key, j.recipient)
	if reason != "" {
		h.logger.WarnContext(ctx, "delivery failed before sending",
			"posting_id", key.PostingID, "user_id", key.UserID, "channel", key.Channel, "reason", reason)
		_, err := h.finish(ctx, key, Final{Status: delivery.StatusFailed, Error: reason, At: h.clock.Now()})
		return err
	}

	for attempt := j.row.Attempts + 1; ; attempt++ {
		sendErr := sender.Send(ctx, msg)
		now := h.clock.Now()
		if sendErr == nil {
			// At-least-once window: the channel has accepted the message but
			// the row is not marked sent until the statement below commits.
			// If the process dies (or the database fails) in between, the
			// redelivered batch sends the message again, with the same
			// deterministic Message-ID (email) or idempotency_key (SMS), so
			// the receiver can drop the copy. The mark commits at once, not
			// with the handler's unit of work, so that nothing later in the
			// batch can roll it back and cause a resend.
			changed, err := h.finish(ctx, key, Final{Status: delivery.StatusSent, MessageID: msg.ID, Attempted: true, At: now})
			if err == nil && !changed {
				h.logger.WarnContext(ctx, "message sent but the delivery was already final (cancelled meanwhile?)",
					"posting_id", key.PostingID, "user_id", key.UserID, "channel", key.Channel, "message_id", msg.ID)
			}
			return err
		}
		if ctx.Err() != nil {
			// Interrupted: whether the channel took the message is unknown;
			// the redelivered batch tries again with the same message id.
			return ctx.Err()
		}
		attrs := []any{"posting_id", key.PostingID, "user_id", key.UserID, "channel", key.Channel,
			"to", logging.MaskAddress(msg.To), "attempt", attempt, "error", sendErr}
		if !IsTransient(sendErr) {
			h.logger.WarnContext(ctx, "delivery failed", attrs...)
			_, err := h.finish(ctx, key, Final{Status: delivery.StatusFailed, Error: sendErr.Error(), Attempted: true, At: now})
			return err
		}
		if attempt >= h.policy.MaxAttempts {
			h.logger.WarnContext(ctx, "delivery failed: no attempts left", attrs...)
			_, err := h.finish(ctx, key, Final{
				Status: delivery.StatusFailed, Attempted: true, At: now,
				Error: fmt.Sprintf("gave up after %d attempts: %v", attempt, sendErr),
			})
			return err
		}
		wait := h.jitter(h.policy.delay(attempt))
		if h.expired(cmd.ExpiresAt, now.Add(wait)) {
			h.logger.InfoContext(ctx, "delivery expired while retrying", attrs...)
			_, err := h.finish(ctx, key, Final{
				Status: delivery.StatusExpired, Attempted: true, At: now,
				Error: fmt.Sprintf("expired while retrying: %v", sendErr),
			})
			return err
		}
		h.logger.DebugContext(ctx, "delivery failed, will retry", append(attrs, "retry_in", wait)...)
		stillPending, err := h.store.RecordAttempt(ctx, key, sendErr.Error(), now)
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		if !stillPending {
			return nil // finished elsewhere (the posting was cancelled)
		}
		if err := h.sleep(ctx, wait); err != nil {
			return err
		}
		if cancelled, err := h.store.IsCancelled(ctx, key.PostingID); err != nil {
			return fmt.Errorf("check cancellation: %w", err)
		} else if cancelled {
			return h.cancel(ctx, key)
		}
	}
}

// expired reports whether a message sent at t would be past expiresAt.
func (h *DeliverBatchHandler) expired(expiresAt *time.Time, t time.Time) bool {
	return expiresAt != nil && !t.Before(*expiresAt)
}

// compose renders the message of one delivery. It returns a public reason
// instead when the delivery cannot be made: no sender or no address for the
// channel, no template, a broken template.
func (h *DeliverBatchHandler) compose(cmd delivery.DeliverBatch, key domain.Key, r delivery.Recipient) (Message, Sender, string) {
	sender, ok := h.senders[key.Channel]
	if !ok {
		return Message{}, nil, fmt.Sprintf("unsupported channel %q", key.Channel)
	}
	to := address(key.Channel, r)
	if to == "" {
		return Message{}, nil, fmt.Sprintf("recipient has no %s address", key.Channel)
	}
	name := TemplateFor(cmd.Template, key.Channel)
	rendered, err := h.renderer.Render(name, templateData(cmd, r))
	if err != nil {
		var te *templating.TemplateError
		switch {
		case errors.Is(err, templating.ErrTemplateNotFound), errors.Is(err, templating.ErrUnknownChannel):
			return Message{}, nil, fmt.Sprintf("no template %q for channel %s", name, key.Channel)
		case errors.As(err, &te):
			return Message{}, nil, "template error: " + te.Error()
		default:
			return Message{}, nil, fmt.Sprintf("render %s: %v", name, err)
		}
	}
	return Message{
		ID:             key.MessageID(),
		IdempotencyKey: key.IdempotencyKey(),
		PostingID:      key.PostingID,
		UserID:         key.UserID,
		Channel:        key.Channel,
		To:             to,
		Subject:        rendered.Subject,
		Text:           rendered.Text,
		HTML:           rendered.HTML,
	}, sender, ""
}

// TemplateFor returns the template of channel for a batch whose template is
// batchTemplate: the batch template itself for its own channel directory,
// else the file of the same name under the channel's directory
// ("email/new_movies.md" gives "sms/new_movies.md" for sms).
func TemplateFor(batchTemplate, channel string) string {
	if dir, _, ok := strings.Cut(batchTemplate, "/"); ok && dir == channel {
		return batchTemplate
	}
	return channel + "/" + path.Base(batchTemplate)
}

// address returns the recipient's address on channel, empty when unknown.
func address(channel string, r delivery.Recipient) string {
	switch channel {
	case domain.ChannelEmail:
		return strings.TrimSpace(r.Email)
	case domain.ChannelSMS:
		return strings.TrimSpace(r.Phone)
	default:
		return ""
	}
}

// templateData is the batch's template context with the recipient as
// "user" and the posting's id as "posting_id"; the context is not modified.
func templateData(cmd delivery.DeliverBatch, r delivery.Recipient) map[string]any {
	data := make(map[string]any, len(cmd.TemplateContext)+2)
	maps.Copy(data, cmd.TemplateContext)
	data["user"] = UserData(r)
	data["posting_id"] = cmd.PostingID
	return data
}

// UserData is the recipient as templates see it: {{ user.first_name }}.
func UserData(r delivery.Recipient) map[string]any {
	return map[string]any{
		"id":         r.UserID,
		"email":      r.Email,
		"phone":      r.Phone,
		"username":   r.Username,
		"first_name": r.FirstName,
		"locale":     r.Locale,
		"timezone":   r.Timezone,
	}
}
