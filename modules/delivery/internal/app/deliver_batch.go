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

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/logging"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/tracing"
	"github.com/notifier/notifier/platform/unsubscribe"
)

// DeliverBatchHandler delivers one batch of a posting: it records a row per
// (user, channel), skips the rows whose address is on the suppression list
// (WithSuppressions), hands the other rows still pending to its lane's Workers, which
// send them concurrently through their own senders, within the channels'
// rate limits, retrying transient failures within the expiry, and publishes
// one delivery.DeliveryOutcomes event with every row of the batch that
// became final and was not reported yet.
//
// It is idempotent: a redelivered batch sends only the rows not final yet
// and reports only what was never reported.
type DeliverBatchHandler struct {
	store    Store
	renderer Renderer
	workers  *Workers
	limiters Limiters
	events   EventPublisher
	clock    clock.Clock
	policy   RetryPolicy
	logger   *slog.Logger
	sleep    Sleep
	jitter   Jitter
	grace    time.Duration
	batches  batchLocks
	// holder names this handler in the batch leases; leaseTTL, leaseRenew
	// and leasePoll are batchLease* unless a test sets them.
	holder                          string
	leaseTTL, leaseRenew, leasePoll time.Duration
	// claims reads the template context of a batch that carries only its
	// reference; claimMissing tells a claim gone for good (WithClaims).
	claims       ClaimReader
	claimMissing func(error) bool
	// metrics is told what the batch's deliveries become (WithMetrics).
	metrics Metrics
	// unsubscribe makes the unsubscribe links of emails (nil: none).
	unsubscribe UnsubscribeLinks
	// deferred keeps what waits for the end of quiet hours (WithQuietHours;
	// nil: quiet hours are not kept).
	deferred DeferredStore
	// suppressions is the suppression list (WithSuppressions); nil
	// suppresses nothing.
	suppressions SuppressionList
	// tracer gives each send a span named spanNames[channel]
	// (WithTracing); nil: no spans.
	tracer    trace.Tracer
	spanNames map[string]string
	// digests holds the deliveries of the types in digestPolicies
	// (WithDigests; nil: no type is a digest); digestZone is the time
	// zone of users with none.
	digests        DigestStore
	digestPolicies map[string]DigestPolicy
	digestZone     *time.Location
}

// DeliverBatchOption tunes a DeliverBatchHandler.
type DeliverBatchOption func(*DeliverBatchHandler)

// WithSleep replaces the wait between retries (tests advance a fake clock
// instead of sleeping). The sleep must return ctx's error when ctx ends; it
// runs on a goroutine of its own for each row waiting.
func WithSleep(s Sleep) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.sleep = s }
}

// WithJitter replaces the random spread of retry delays.
func WithJitter(j Jitter) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.jitter = j }
}

// WithLimiters paces each channel's sends with its Limiter (the channel's
// rate limit); channels left out are not limited.
func WithLimiters(l Limiters) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.limiters = maps.Clone(l) }
}

// WithDrainGrace replaces DrainGrace, how long a batch goes on after its
// context ends.
func WithDrainGrace(d time.Duration) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.grace = d }
}

// WithBatchLease replaces how long a batch's lease lasts (ttl), how often
// it is renewed while the batch runs, and how often it is asked for while
// another instance holds it (see batchLeaseTTL).
func WithBatchLease(ttl, renew, poll time.Duration) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.leaseTTL, h.leaseRenew, h.leasePoll = ttl, renew, poll }
}

// WithMetrics tells m what the deliveries become: each send, each retry,
// each outcome reported and how long the batch's deliveries are pending.
// UnsubscribeLinks makes the one-click unsubscribe URL of a recipient, a
// type and a channel (*unsubscribe.Links).
type UnsubscribeLinks interface {
	URL(s unsubscribe.Subject) (string, error)
}

// WithUnsubscribeLinks gives every email of a batch whose type may be
// unsubscribed from (DeliverBatch.Unsubscribe) its link: in the template
// context as unsubscribe_url (the layout's footer) and in
// Message.ListUnsubscribe (the headers).
func WithUnsubscribeLinks(l UnsubscribeLinks) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.unsubscribe = l }
}

func WithMetrics(m Metrics) DeliverBatchOption {
	return func(h *DeliverBatchHandler) {
		if m != nil {
			h.metrics = m
		}
	}
}

// WithSuppressions checks every batch against the suppression list l (one
// lookup a batch) and puts on it the addresses a channel refuses for good
// (errors marked RecipientRefused). Give each lane the list on its own
// connections.
func WithSuppressions(l SuppressionList) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.suppressions = l }
}

// WithTracing gives every send a span of t, a child of the batch's span,
// named after the channel's sender in spanNames ("smtp.send", "sms.send",
// "capture.send"; "<channel>.send" for a channel left out), with the
// posting, the lane, the channel, the attempt and the result
// (tracing.ResultKey) as attributes, never the address; a failed send
// records its error.
func WithTracing(t trace.Tracer, spanNames map[string]string) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.tracer, h.spanNames = t, maps.Clone(spanNames) }
}

// NewDeliverBatchHandler returns a DeliverBatchHandler sending through
// workers (the lane's pool, which the caller starts and stops). Every
// dependency is required, policy must allow at least one attempt, and no
// limiter may be nil.
func NewDeliverBatchHandler(
	store Store,
	renderer Renderer,
	workers *Workers,
	events EventPublisher,
	clk clock.Clock,
	policy RetryPolicy,
	logger *slog.Logger,
	opts ...DeliverBatchOption,
) (*DeliverBatchHandler, error) {
	if store == nil || renderer == nil || workers == nil || events == nil || clk == nil || logger == nil {
		return nil, errors.New("new deliver batch handler: store, renderer, workers, events, clock and logger are required")
	}
	if policy.MaxAttempts < 1 {
		return nil, errors.New("new deliver batch handler: max attempts must be at least 1")
	}
	h := &DeliverBatchHandler{
		store: store, renderer: renderer, workers: workers, events: events,
		clock: clk, policy: policy, logger: logger, sleep: SleepContext, jitter: equalJitter, grace: DrainGrace,
		holder:   uuid.NewString(),
		leaseTTL: batchLeaseTTL, leaseRenew: batchLeaseRenew, leasePoll: batchLeasePoll,
		metrics: noMetrics{},
	}
	for _, o := range opts {
		o(h)
	}
	for ch, l := range h.limiters {
		if l == nil {
			return nil, fmt.Errorf("new deliver batch handler: nil limiter for channel %q", ch)
		}
	}
	return h, nil
}

// DrainGrace is how long a batch in flight goes on after its context ends
// (the service is stopping). It is shorter than the router's close timeout.
const DrainGrace = 20 * time.Second

// markTimeout bounds the write of a "sent" mark, which goes on even when
// the batch's context has ended: the message is out, and an unmarked row
// would be sent again.
const markTimeout = 10 * time.Second

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
// the whole batch for (the store failing, ctx ending, the workers stopped,
// the outcomes not published); a malformed batch is refused with a
// messaging.Permanent error.
//
// Crash safety: each row's transition is committed as it happens (the store
// writes them outside the unit of work ctx may carry), and the report comes
// last: in ctx's unit of work, the batch's final rows not reported yet —
// also those an earlier, interrupted attempt left — are published in one
// DeliveryOutcomes event and marked reported. A process dying between a
// row's transition and the report, or a publish failing, leaves the row
// unreported, and the redelivered batch reports it; a reported row is never
// reported again. With several workers, up to one message per worker can
// be in the window between the channel's acceptance and its "sent" mark
// when the process dies (a worker gives its connection back before it
// waits for the mark, but has one message at a time): those are sent
// again, with the same message id.
//
// Backpressure: Handle returns only when every row it handed to the
// workers is done, so the router takes the lane's next batch only then
// (with amqp.handler_concurrency batches at once, all sharing the lane's
// workers).
//
// Exclusivity: the copies of one batch take turns (holdBatch), in this
// process and across instances, so that two copies never send a row each.
func (h *DeliverBatchHandler) Handle(ctx context.Context, cmd delivery.DeliverBatch) error {
	if cmd.PostingID == "" {
		return messaging.Permanent(errors.New("deliver batch: empty posting_id"))
	}
	if cmd.Digest != nil {
		return h.sendDigest(ctx, cmd)
	}
	keys, recipients, skipped := h.collect(cmd)
	if len(keys) == 0 {
		return nil
	}
	if len(recipients) > 0 {
		if err := h.loadContext(ctx, &cmd); err != nil {
			return err
		}
	}
	pending, work, end, err := h.startBatch(ctx, BatchKey{PostingID: cmd.PostingID, Lane: cmd.Lane, BatchNo: cmd.BatchNo}, keys)
	if err != nil {
		return fmt.Errorf("deliver batch: %w", err)
	}
	defer end()
	lane := cmd.RouteKey()
	if len(pending) > 0 {
		// Pending since the batch was published: the time it waited for
		// the broker and a worker counts.
		since, ok := messaging.PublishedAt(ctx)
		if !ok {
			since = h.clock.Now()
		}
		defer h.metrics.Pending(lane, since)()
	}
	runErr := h.process(work, cmd, pending, recipients, skipped)

	// Report even when ctx ended: what became final is reported now rather
	// than at the redelivery.
	counts, reportErr := reportOutcomes(context.WithoutCancel(ctx), h.store, h.events,
		ReportScope{PostingID: cmd.PostingID, Keys: keys}, lane)
	h.logger.InfoContext(ctx, "delivery batch processed",
		"posting_id", cmd.PostingID, "batch_no", cmd.BatchNo,
		"pending", len(pending), "reported", counts.byStatus())
	err = errors.Join(runErr, reportErr)
	if err == nil {
		counts.count(h.metrics, lane)
	}
	return err
}

// startBatch waits for the batch's turn and lease (holdBatch), records
// its rows pending (rows already there are kept) and returns those still
// pending with the context the batch's work runs in: on a shutdown it
// drains, going on for up to the grace after ctx ends, then stopping
// cleanly between two sends; a lost lease stops it at once. end gives all
// of it back.
func (h *DeliverBatchHandler) startBatch(ctx context.Context, batch BatchKey, keys []domain.Key) (
	pending []domain.Delivery, work context.Context, end func(), err error,
) {
	if !h.workers.running() {
		return nil, nil, nil, ErrWorkersStopped
	}
	held, release, err := h.holdBatch(ctx, batch)
	if err != nil {
		return nil, nil, nil, err
	}
	pending, err = h.store.InsertPending(ctx, keys, h.clock.Now())
	if err != nil {
		release()
		return nil, nil, nil, fmt.Errorf("record deliveries: %w", err)
	}
	work, stop := drain(ctx, h.grace)
	unwatch := context.AfterFunc(held, stop)
	return pending, work, func() { unwatch(); stop(); release() }, nil
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

// row is one pending delivery of the batch, as it goes to a worker for a
// try and comes back.
type row struct {
	key       domain.Key
	recipient delivery.Recipient
	// attempts counts the sends tried so far, by earlier deliveries of the
	// batch too.
	attempts int
	// msg is the rendered message, once composed.
	msg *Message
	// lastErr is the error of the last failed try.
	lastErr string
}

// tried is what a worker made of one try of a row.
type tried struct {
	row *row
	// again asks for another try after wait: a transient failure,
	// recorded.
	again bool
	wait  time.Duration
	// err is a failure of the store, or ctx ending: the row stays pending
	// and the batch stops.
	err error
}

// woken is a row whose wait before its next try is over, or was cut short
// with err.
type woken struct {
	row *row
	err error
}

// process finishes the skipped rows, cancels everything when the posting is
// cancelled, and delivers the other pending rows through the workers.
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
	rows := make([]*row, 0, len(pending))
	for _, p := range pending {
		switch reason, isSkipped := skipped[p.Key]; {
		case isSkipped:
			final = append(final, Transition{Key: p.Key, Final: Final{Status: delivery.StatusSkipped, Error: reason, At: now}})
		case cancelled:
			final = append(final, Transition{Key: p.Key, Final: cancelledAt(now)})
		default:
			rows = append(rows, &row{key: p.Key, recipient: recipients[p.Key], attempts: p.Attempts})
		}
	}
	rows, suppressed, err := h.withoutSuppressed(ctx, rows, now)
	if err != nil {
		return err
	}
	final = append(final, suppressed...)
	if rows, err = h.withoutHeld(ctx, cmd, rows, now); err != nil {
		return err
	}
	rows, expiredInQuiet, err := h.withoutQuiet(ctx, cmd, rows, now)
	if err != nil {
		return err
	}
	final = append(final, expiredInQuiet...)
	if len(final) > 0 {
		if _, err := h.store.FinishMany(ctx, final); err != nil {
			return fmt.Errorf("finish skipped and cancelled deliveries: %w", err)
		}
	}
	if len(suppressed) > 0 {
		byChannel := map[string]int{}
		for _, t := range suppressed {
			byChannel[t.Key.Channel]++
		}
		for ch, n := range byChannel {
			h.metrics.Suppressed(cmd.RouteKey(), ch, n)
		}
	}
	return h.deliverRows(ctx, cmd, rows)
}

// withoutSuppressed looks the addresses of rows up in the suppression list,
// all at once, and returns the rows to deliver and the skipped transitions
// of the others. Rows without an address are left to compose, which fails
// them with its reason.
func (h *DeliverBatchHandler) withoutSuppressed(ctx context.Context, rows []*row, now time.Time) ([]*row, []Transition, error) {
	if h.suppressions == nil || len(rows) == 0 {
		return rows, nil, nil
	}
	addrs := make([]domain.Address, 0, len(rows))
	seen := make(map[domain.Address]struct{}, len(rows))
	for _, r := range rows {
		a, ok := rowAddress(r)
		if !ok {
			continue
		}
		if _, dup := seen[a]; !dup {
			seen[a] = struct{}{}
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return rows, nil, nil
	}
	found, err := h.suppressions.Suppressed(ctx, addrs)
	if err != nil {
		return nil, nil, fmt.Errorf("look up suppressed addresses: %w", err)
	}
	if len(found) == 0 {
		return rows, nil, nil
	}
	listed := make(map[domain.Address]struct{}, len(found))
	for _, a := range found {
		listed[a] = struct{}{}
	}
	keep := make([]*row, 0, len(rows))
	var skipped []Transition
	for _, r := range rows {
		if a, ok := rowAddress(r); ok {
			if _, on := listed[a]; on {
				skipped = append(skipped, Transition{Key: r.key, Final: Final{Status: delivery.StatusSkipped, Error: domain.ReasonSuppressed, At: now}})
				continue
			}
		}
		keep = append(keep, r)
	}
	return keep, skipped, nil
}

// rowAddress returns the normalized address of a row's recipient on its
// channel, false when it has none.
func rowAddress(r *row) (domain.Address, bool) {
	if r.key.Channel == domain.ChannelInApp || r.key.Channel == domain.ChannelWebhook {
		// An inbox is never suppressed, nor a URL: the list is of emails
		// and phone numbers, shown to managers, and a URL may hold a
		// credential.
		return domain.Address{}, false
	}
	raw := address(r.key.Channel, r.recipient)
	if raw == "" {
		return domain.Address{}, false
	}
	return domain.AddressOf(r.key.Channel, raw), true
}

// deliverRows hands the rows to the workers, one try at a time, and waits
// until each is final or the batch stops. It is the only goroutine of the
// batch besides one per row waiting for a retry: a row goes to a worker only
// when one is free, a row waiting for its retry frees its worker, retries
// due go before new rows, and a new row starts only while fewer than
// RetryPolicy.MaxWaiting rows are started and not final (sending or
// waiting), which bounds the rows waiting. The first error (the store
// failing, ctx ending, the workers stopping) stops it from starting
// anything more and cuts the waits short; it returns that error once the
// tries in flight are back, leaving the rows not final pending for the
// redelivered batch.
func (h *DeliverBatchHandler) deliverRows(ctx context.Context, cmd delivery.DeliverBatch, rows []*row) error {
	if len(rows) == 0 {
		return nil
	}
	// Each row has at most one try in flight or one wait going on, so
	// neither a worker nor a waiting goroutine ever blocks on these.
	results := make(chan tried, len(rows))
	wakeups := make(chan woken, len(rows))
	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()

	fresh, ready := rows, []*row(nil)
	inFlight, waiting := 0, 0
	maxWaiting := h.policy.maxWaiting()
	ended, stopping := ctx.Done(), h.workers.stopping
	var failed error
	fail := func(err error) {
		if failed == nil {
			failed = err
			stopWaiting()
		}
	}
	for {
		var next *row
		if failed == nil {
			switch {
			case len(ready) > 0:
				next = ready[0]
			case len(fresh) > 0 && inFlight+waiting+len(ready) < maxWaiting:
				// Any try in flight may come back to wait: a new row starts
				// only while the rows started and not final stay under the
				// bound, so that the rows waiting never pass it.
				next = fresh[0]
			}
		}
		if next == nil && inFlight == 0 && waiting == 0 {
			return failed
		}
		var tasks chan<- func(Senders)
		if next != nil {
			tasks = h.workers.tasks
		}
		select {
		case tasks <- func(s Senders) { results <- h.try(ctx, cmd, next, s) }:
			inFlight++
			if len(ready) > 0 && ready[0] == next {
				ready = ready[1:]
			} else {
				fresh = fresh[1:]
			}
		case t := <-results:
			inFlight--
			switch {
			case t.err != nil:
				fail(t.err)
			case t.again:
				waiting++
				go func() { wakeups <- woken{row: t.row, err: h.sleep(waitCtx, t.wait)} }()
			}
		case w := <-wakeups:
			waiting--
			switch {
			case w.err != nil:
				fail(w.err)
			case failed == nil:
				ready = append(ready, w.row)
			}
		case <-ended:
			ended = nil
			fail(ctx.Err())
		case <-stopping:
			stopping = nil
			fail(ErrWorkersStopped)
		}
	}
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

// done is the result of a try that ended the row's work in this batch:
// the row is final, or err says why it could not be.
func done(err error) tried { return tried{err: err} }

// finished finishes the row as f and ends its try.
func (h *DeliverBatchHandler) finished(ctx context.Context, key domain.Key, f Final) tried {
	_, err := h.finish(ctx, key, f)
	return done(err)
}

// try makes one try of a pending row on a worker, with the worker's
// senders: it checks that the posting is not cancelled and the row not
// stale, renders the message (on the first try), waits for the channel's
// rate limit, checks the expiry again and sends. A sent message is marked
// sent at once; a permanent failure, the last attempt or a retry that would
// come too late finish the row; another transient failure is recorded and
// the row comes back for a try after the backoff.
func (h *DeliverBatchHandler) try(ctx context.Context, cmd delivery.DeliverBatch, r *row, senders Senders) tried {
	key := r.key
	if cancelled, err := h.store.IsCancelled(ctx, key.PostingID); err != nil {
		return done(fmt.Errorf("check cancellation: %w", err))
	} else if cancelled {
		return h.finished(ctx, key, cancelledAt(h.clock.Now()))
	}
	if stale := h.stale(cmd, r); stale != nil {
		return h.finished(ctx, key, *stale)
	}
	if r.msg == nil {
		msg, reason := h.compose(ctx, cmd, key, r.recipient)
		if reason != "" {
			h.logger.WarnContext(ctx, "delivery failed before sending",
				"posting_id", key.PostingID, "user_id", key.UserID, "channel", key.Channel, "reason", reason)
			return h.finished(ctx, key, Final{Status: delivery.StatusFailed, Error: reason, At: h.clock.Now()})
		}
		r.msg = &msg
	}
	if limiter := h.limiters[key.Channel]; limiter != nil {
		if err := limiter.Wait(ctx); err != nil {
			return done(err)
		}
		if stale := h.stale(cmd, r); stale != nil {
			return h.finished(ctx, key, *stale)
		}
	}

	r.attempts++
	attempt := r.attempts
	began := time.Now()
	sendCtx, span := ctx, trace.Span(nil)
	if h.tracer != nil {
		sendCtx, span = h.startSend(ctx, key, attempt)
	}
	sendCtx, sentBy := WithSentBy(sendCtx)
	sendErr := senders[key.Channel].Send(sendCtx, *r.msg)
	if span != nil {
		if provider := sentBy(); provider != "" {
			span.SetAttributes(attribute.String("notifier.provider", provider))
		}
		endSend(span, sendErr, ctx.Err() != nil)
	}
	h.metrics.Attempted(key.Channel, time.Since(began))
	now := h.clock.Now()
	if sendErr == nil {
		// At-least-once window: the channel has accepted the message but
		// the row is not marked sent until the statement below commits.
		// If the process dies (or the database fails) in between, the
		// redelivered batch sends the message again, with the same
		// deterministic Message-ID (email) or idempotency_key (SMS), so
		// the receiver can drop the copy; each worker can have one message
		// in this window. The mark commits at once, not with the handler's
		// unit of work, so that nothing later in the batch can roll it back
		// and cause a resend, and it is written even when ctx has just
		// ended.
		markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
		defer cancel()
		changed, err := h.finish(markCtx, key, Final{
			Status: delivery.StatusSent, MessageID: r.msg.ID, Provider: sentBy(), Attempted: true, At: now,
		})
		if err == nil && !changed {
			h.logger.WarnContext(ctx, "message sent but the delivery was already final (cancelled meanwhile?)",
				"posting_id", key.PostingID, "user_id", key.UserID, "channel", key.Channel, "message_id", r.msg.ID)
		}
		return done(err)
	}
	if ctx.Err() != nil {
		// Interrupted: whether the channel took the message is unknown;
		// the redelivered batch tries again with the same message id.
		return done(ctx.Err())
	}
	attrs := []any{"posting_id", key.PostingID, "user_id", key.UserID, "channel", key.Channel,
		"to", logging.MaskAddress(r.msg.To), "attempt", attempt, "error", sendErr}
	if !IsTransient(sendErr) {
		if IsRecipientRefused(sendErr) {
			// Suppressed before the row is marked failed: a crash in
			// between leaves the row pending, and the redelivered batch
			// skips it as suppressed; the other way round, the refusal
			// would be forgotten.
			if err := h.suppress(ctx, key.Channel, r.msg.To, sendErr, now); err != nil {
				return done(err)
			}
		}
		h.logger.WarnContext(ctx, "delivery failed", attrs...)
		return h.finished(ctx, key, Final{Status: delivery.StatusFailed, Error: sendErr.Error(), Attempted: true, At: now})
	}
	if attempt >= h.policy.MaxAttempts {
		h.logger.WarnContext(ctx, "delivery failed: no attempts left", attrs...)
		return h.finished(ctx, key, Final{
			Status: delivery.StatusFailed, Attempted: true, At: now,
			Error: fmt.Sprintf("gave up after %d attempts: %v", attempt, sendErr),
		})
	}
	wait := h.jitter(h.policy.delay(attempt))
	if h.expired(cmd.ExpiresAt, now.Add(wait)) {
		h.logger.InfoContext(ctx, "delivery expired while retrying", attrs...)
		return h.finished(ctx, key, Final{
			Status: delivery.StatusExpired, Attempted: true, At: now,
			Error: fmt.Sprintf("expired while retrying: %v", sendErr),
		})
	}
	h.logger.InfoContext(ctx, "delivery failed; will retry", append(attrs, "retry_in", wait)...)
	stillPending, err := h.store.RecordAttempt(ctx, key, sendErr.Error(), now)
	if err != nil {
		return done(fmt.Errorf("record attempt: %w", err))
	}
	if !stillPending {
		return done(nil) // finished elsewhere (the posting was cancelled)
	}
	h.metrics.Retried(key.Channel, RetryClassOf(sendErr))
	r.lastErr = sendErr.Error()
	return tried{row: r, again: true, wait: wait}
}

// startSend starts the span of one send.
func (h *DeliverBatchHandler) startSend(ctx context.Context, key domain.Key, attempt int) (context.Context, trace.Span) {
	name := h.spanNames[key.Channel]
	if name == "" {
		name = key.Channel + ".send"
	}
	return h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		tracing.PostingIDKey.String(key.PostingID),
		tracing.LaneKey.String(lane.From(ctx)),
		tracing.ChannelKey.String(key.Channel),
		tracing.AttemptKey.Int(attempt),
	))
}

// endSend records how a send ended on its span and ends it.
func endSend(span trace.Span, err error, interrupted bool) {
	defer span.End()
	switch {
	case err == nil:
		span.SetAttributes(tracing.ResultKey.String(tracing.ResultSent))
		return
	case interrupted:
		span.SetAttributes(tracing.ResultKey.String(tracing.ResultInterrupted))
	case IsTransient(err):
		span.SetAttributes(tracing.ResultKey.String(tracing.ResultTransient), attribute.String("notifier.retry_class", string(RetryClassOf(err))))
	case IsRecipientRefused(err):
		span.SetAttributes(tracing.ResultKey.String(tracing.ResultRefused))
	default:
		span.SetAttributes(tracing.ResultKey.String(tracing.ResultPermanent))
	}
	tracing.Fail(span, err)
}

// suppress puts an address its channel refused for good on the suppression
// list, with the refusal as the reason. Adding an address already there
// changes nothing, so a redelivered batch may do it again.
func (h *DeliverBatchHandler) suppress(ctx context.Context, channel, to string, refusal error, now time.Time) error {
	if h.suppressions == nil {
		return nil
	}
	addr := domain.AddressOf(channel, to)
	_, added, err := h.suppressions.Suppress(ctx, domain.Suppression{
		Address: addr, Reason: refusal.Error(), Source: domain.SourceDelivery, CreatedAt: now.UTC(),
	})
	if err != nil {
		return fmt.Errorf("suppress refused address: %w", err)
	}
	if added {
		h.metrics.SuppressionAdded(domain.SourceDelivery, channel)
		h.logger.InfoContext(ctx, "address suppressed", "channel", channel,
			"address", logging.MaskAddress(addr.Value), "source", domain.SourceDelivery, "reason", refusal.Error())
	}
	return nil
}

// stale returns the final state of a row that may no longer be sent (its
// batch is past its expiry), or nil.
func (h *DeliverBatchHandler) stale(cmd delivery.DeliverBatch, r *row) *Final {
	now := h.clock.Now()
	if !h.expired(cmd.ExpiresAt, now) {
		return nil
	}
	reason := "expired before sending"
	if r.lastErr != "" {
		reason = "expired while retrying: " + r.lastErr
	}
	return &Final{Status: delivery.StatusExpired, Error: reason, At: now}
}

// expired reports whether a message sent at t would be past expiresAt.
func (h *DeliverBatchHandler) expired(expiresAt *time.Time, t time.Time) bool {
	return expiresAt != nil && !t.Before(*expiresAt)
}

// compose renders the message of one delivery, in the recipient's locale.
// It returns a public reason instead when the delivery cannot be made: no
// sender or no address for the channel, no template, a broken template. A
// malformed locale is no reason: the default locale's file is rendered.
func (h *DeliverBatchHandler) compose(ctx context.Context, cmd delivery.DeliverBatch, key domain.Key, r delivery.Recipient) (Message, string) {
	if !h.workers.has(key.Channel) {
		return Message{}, fmt.Sprintf("unsupported channel %q", key.Channel)
	}
	to := address(key.Channel, r)
	if key.Channel == domain.ChannelWebhook && cmd.WebhookURL != "" {
		to = strings.TrimSpace(cmd.WebhookURL) // the posting's URL stands for every recipient's own
	}
	if to == "" {
		return Message{}, fmt.Sprintf("recipient has no %s address", key.Channel)
	}
	name := TemplateFor(cmd.Template, key.Channel)
	data := templateData(cmd, r)
	var unsubscribeURL string
	if cmd.Unsubscribe && key.Channel == domain.ChannelEmail && h.unsubscribe != nil {
		u, err := h.unsubscribe.URL(unsubscribe.Subject{UserID: key.UserID, Type: cmd.NotificationType, Channel: key.Channel})
		if err != nil {
			// Only a malformed type or user id gets here; the email goes
			// without a link rather than not at all.
			h.logger.Warn("no unsubscribe link for a delivery", "posting_id", key.PostingID, "error", err)
		} else {
			unsubscribeURL = u
			data["unsubscribe_url"] = u
		}
	}
	rendered, err := h.renderer.RenderLocale(name, r.Locale, data)
	if err != nil {
		var te *templating.TemplateError
		switch {
		case errors.Is(err, templating.ErrTemplateNotFound), errors.Is(err, templating.ErrUnknownChannel):
			return Message{}, fmt.Sprintf("no template %q for channel %s", name, key.Channel)
		case errors.As(err, &te):
			return Message{}, "template error: " + te.Error()
		default:
			return Message{}, fmt.Sprintf("render %s: %v", name, err)
		}
	}
	if rendered.MalformedLocale && h.logger.Enabled(ctx, slog.LevelDebug) {
		// Not the locale itself: it is the directory's data about the user.
		h.logger.DebugContext(ctx, "recipient's locale is not a language tag; the default locale's template used",
			"posting_id", key.PostingID, "user_id", key.UserID, "template", name, "locale", rendered.Locale)
	}
	return Message{
		ID:             key.MessageID(),
		IdempotencyKey: key.IdempotencyKey(),
		PostingID:      key.PostingID,
		UserID:         key.UserID,
		Channel:        key.Channel,
		Template:       name,

		NotificationType: cmd.NotificationType,
		ExpiresAt:        cmd.ExpiresAt,

		Locale:  rendered.Locale,
		To:      to,
		Subject: rendered.Subject,
		Text:    rendered.Text,
		HTML:    rendered.HTML,

		ListUnsubscribe: unsubscribeURL,
	}, ""
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
	case domain.ChannelInApp:
		return r.UserID
	case domain.ChannelWebhook:
		return strings.TrimSpace(r.WebhookURL)
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
