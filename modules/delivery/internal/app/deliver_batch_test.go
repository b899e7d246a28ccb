package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/messaging"
)

func TestBatchIsDeliveredOnceAndARedeliveredBatchSendsNothingTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	batch := emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"))
	ctx := context.Background()

	require.NoError(t, h.handler.Handle(ctx, batch))
	require.Len(t, h.email.messages(), 2)
	require.Equal(t, []string{"u1/email=sent", "u2/email=sent"}, h.outcomes())
	require.Len(t, h.events.published(), 1, "one event for the batch")

	rows := h.rows(t, "p1")
	sent := rows["u1/email"]
	require.Equal(t, delivery.StatusSent, sent.Status)
	require.Equal(t, 1, sent.Attempts)
	require.True(t, sent.SentAt.Equal(start))
	require.Equal(t, domain.Key{PostingID: "p1", UserID: "u1", Channel: "email"}.MessageID(), sent.MessageID)

	// The broker delivers the same batch again, with one more recipient.
	batch.Items = append(batch.Items, delivery.Item{Channel: "email", Recipient: recipient("u3", "Вера")})
	require.NoError(t, h.handler.Handle(ctx, batch))
	msgs := h.email.messages()
	require.Len(t, msgs, 3, "only the new recipient is sent")
	require.Equal(t, "u3@example.com", msgs[2].To)
	require.Equal(t, []string{"u1/email=sent", "u2/email=sent", "u3/email=sent"}, h.outcomes(), "nothing reported twice")

	require.NoError(t, h.handler.Handle(ctx, batch))
	require.Len(t, h.email.messages(), 3)
	require.Len(t, h.events.published(), 2, "a batch with nothing new publishes nothing")
}

func TestMessageIDIsDeterministicPerPostingUserAndChannel(t *testing.T) {
	t.Parallel()
	a := domain.Key{PostingID: "p1", UserID: "u1", Channel: "email"}
	require.Equal(t, a.MessageID(), a.MessageID())
	require.Regexp(t, `^[0-9a-f]{32}@notifier$`, a.MessageID())
	require.Equal(t, a.IdempotencyKey()+"@notifier", a.MessageID())
	for _, other := range []domain.Key{
		{PostingID: "p2", UserID: "u1", Channel: "email"},
		{PostingID: "p1", UserID: "u2", Channel: "email"},
		{PostingID: "p1", UserID: "u1", Channel: "sms"},
	} {
		require.NotEqual(t, a.MessageID(), other.MessageID())
	}
}

func TestSkippedRecipientsAreRecordedAndReportedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	batch := emailBatch("p1", recipient("u1", "Анна"))
	batch.Skipped = []delivery.SkippedItem{
		{UserID: "u2", Channel: "email", Reason: "opted out of new_movies"},
		{UserID: "u3", Channel: "sms", Reason: "no phone on file"},
	}
	ctx := context.Background()

	require.NoError(t, h.handler.Handle(ctx, batch))
	require.Len(t, h.email.messages(), 1)
	require.Empty(t, h.sms.messages())
	require.ElementsMatch(t, []string{"u1/email=sent", "u2/email=skipped", "u3/sms=skipped"}, h.outcomes())
	skipped := h.rows(t, "p1")["u2/email"]
	require.Equal(t, delivery.StatusSkipped, skipped.Status)
	require.Equal(t, "opted out of new_movies", skipped.Error)
	require.Zero(t, skipped.Attempts)

	require.NoError(t, h.handler.Handle(ctx, batch))
	require.Len(t, h.outcomes(), 3, "a redelivered batch reports its skipped rows no more")
}

func TestExpiredBatchIsNeverSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	batch := emailBatch("p1", recipient("u1", "Анна"))
	batch.Lane = delivery.LaneTransactional
	expires := start.Add(2 * time.Minute)
	batch.ExpiresAt = &expires
	h.clock.Advance(2 * time.Minute) // exactly at the expiry is too late

	require.NoError(t, h.handler.Handle(context.Background(), batch))
	require.Zero(t, h.email.tries())
	require.Equal(t, []string{"u1/email=expired"}, h.outcomes())
	row := h.rows(t, "p1")["u1/email"]
	require.Equal(t, delivery.StatusExpired, row.Status)
	require.Zero(t, row.Attempts)
}

func TestBatchStillFreshIsSentBeforeItsExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	batch := emailBatch("p1", recipient("u1", "Анна"))
	expires := start.Add(2 * time.Minute)
	batch.ExpiresAt = &expires
	h.clock.Advance(2*time.Minute - time.Second)

	require.NoError(t, h.handler.Handle(context.Background(), batch))
	require.Equal(t, []string{"u1/email=sent"}, h.outcomes())
}

func TestTransientFailureIsRetriedWithBackoffThenSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	h.email.script = []error{errBusy}

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"))))
	require.Equal(t, []time.Duration{time.Second}, h.slept())
	require.Equal(t, []string{"u1/email=sent"}, h.outcomes())
	row := h.rows(t, "p1")["u1/email"]
	require.Equal(t, delivery.StatusSent, row.Status)
	require.Equal(t, 2, row.Attempts)
	require.Empty(t, row.Error)
	require.True(t, row.SentAt.Equal(start.Add(time.Second)))
}

func TestPermanentFailureIsRecordedFailedWithoutRetrying(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	h.email.script = []error{errors.New("smtp: sending SMTP RCPT TO command: 550 5.1.1")}

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"))))
	require.Equal(t, 2, h.email.tries())
	require.Empty(t, h.slept())
	require.Equal(t, []string{"u1/email=failed", "u2/email=sent"}, h.outcomes())
	failed := h.rows(t, "p1")["u1/email"]
	require.Equal(t, 1, failed.Attempts)
	require.Equal(t, "smtp: sending SMTP RCPT TO command: 550 5.1.1", failed.Error)
	require.Equal(t, "smtp: sending SMTP RCPT TO command: 550 5.1.1", h.events.published()[0].Outcomes[0].Error)
}

func TestTransientFailuresGiveUpAfterMaxAttemptsWithDoublingCappedDelays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.RetryPolicy{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: 3 * time.Second})
	h.email.fail = func(app.Message) error { return errBusy }

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"))))
	require.Equal(t, 5, h.email.tries())
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}, h.slept())
	row := h.rows(t, "p1")["u1/email"]
	require.Equal(t, delivery.StatusFailed, row.Status)
	require.Equal(t, 5, row.Attempts)
	require.Contains(t, row.Error, "gave up after 5 attempts")
	require.Contains(t, row.Error, "451 4.3.0")
	require.Equal(t, []string{"u1/email=failed"}, h.outcomes())
}

func TestRetriesStopAtTheExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.RetryPolicy{MaxAttempts: 10, Backoff: time.Second, MaxBackoff: time.Minute})
	h.sms.fail = func(app.Message) error { return app.Transient(errors.New("sms gateway: status 503")) }
	batch := delivery.DeliverBatch{
		PostingID: "p1", Lane: delivery.LaneTransactional, Template: "sms/hello.md",
		TemplateContext: map[string]any{"code": "1234"},
		Items:           []delivery.Item{{Channel: "sms", Recipient: recipient("u1", "Анна")}},
	}
	expires := start.Add(5 * time.Second)
	batch.ExpiresAt = &expires

	require.NoError(t, h.handler.Handle(context.Background(), batch))
	// Tries at 0s, 1s and 3s; the next would be at 7s, past the expiry.
	require.Equal(t, 3, h.sms.tries())
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second}, h.slept())
	row := h.rows(t, "p1")["u1/sms"]
	require.Equal(t, delivery.StatusExpired, row.Status)
	require.Equal(t, 3, row.Attempts)
	require.Contains(t, row.Error, "status 503")
	require.Equal(t, []string{"u1/sms=expired"}, h.outcomes())
}

func TestRenderingUsesTheRecipientAndEscapesHTML(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	batch := emailBatch("p1", recipient("u1", "Алёна"))
	batch.TemplateContext = map[string]any{"note": `<script>alert("x")</script> & co`}

	require.NoError(t, h.handler.Handle(context.Background(), batch))
	msgs := h.email.messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "Привет, Алёна!", m.Subject)
	require.Equal(t, "u1@example.com", m.To)
	require.Contains(t, m.Text, "Здравствуйте, Алёна!")
	require.Contains(t, m.Text, `<script>alert("x")</script> & co`, "the text part is verbatim")
	require.Contains(t, m.HTML, "Здравствуйте, Алёна!")
	require.NotContains(t, m.HTML, "<script>", "the HTML part is escaped by templating")
	require.Contains(t, m.HTML, "&lt;script&gt;")
	require.Equal(t, domain.Key{PostingID: "p1", UserID: "u1", Channel: "email"}.MessageID(), m.ID)
	require.Equal(t, "p1", m.PostingID)
	require.Equal(t, "u1", m.UserID)
	require.Equal(t, "Новинки недели", emailBatch("p1").TemplateContext["note"], "the batch context is not modified")
	_, leaked := batch.TemplateContext["user"]
	require.False(t, leaked, "the recipient is not written into the batch context")
}

func TestAnotherChannelUsesTheTemplateOfTheSameNameInItsDirectory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	batch := emailBatch("p1")
	batch.Items = []delivery.Item{
		{Channel: "email", Recipient: recipient("u1", "Анна")},
		{Channel: "sms", Recipient: recipient("u1", "Анна")},
	}
	require.NoError(t, h.handler.Handle(context.Background(), batch))
	sms := h.sms.messages()
	require.Len(t, sms, 1)
	require.Equal(t, "Привет, Анна! Код 1234.", sms[0].Text)
	require.Equal(t, "+7900000u1", sms[0].To)
	require.Empty(t, sms[0].Subject)
	require.Equal(t, "sms/hello.md", sms[0].Template, "the message names the template it came from")
	require.Equal(t, "email/hello.md", h.email.messages()[0].Template)

	batch = emailBatch("p2")
	batch.Template = "email/only.md"
	batch.Items = []delivery.Item{{Channel: "sms", Recipient: recipient("u1", "Анна")}}
	require.NoError(t, h.handler.Handle(context.Background(), batch))
	row := h.rows(t, "p2")["u1/sms"]
	require.Equal(t, delivery.StatusFailed, row.Status)
	require.Equal(t, `no template "sms/only.md" for channel sms`, row.Error)
	require.Zero(t, row.Attempts)
}

func TestUndeliverableRowsFailWithAReasonAndNoAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	noEmail := recipient("u1", "Анна")
	noEmail.Email = ""
	batch := emailBatch("p1", noEmail)
	batch.Items = append(batch.Items, delivery.Item{Channel: "push", Recipient: recipient("u2", "Борис")})
	require.NoError(t, h.handler.Handle(context.Background(), batch))

	broken := emailBatch("p2", recipient("u3", "Вера"))
	broken.Template = "email/broken.md"
	require.NoError(t, h.handler.Handle(context.Background(), broken))

	require.Zero(t, h.email.tries())
	rows := h.rows(t, "p1")
	require.Equal(t, "recipient has no email address", rows["u1/email"].Error)
	require.Equal(t, `unsupported channel "push"`, rows["u2/push"].Error)
	brokenRow := h.rows(t, "p2")["u3/email"]
	require.Equal(t, delivery.StatusFailed, brokenRow.Status)
	require.Contains(t, brokenRow.Error, "email/broken.md:5")
	require.ElementsMatch(t, []string{"u1/email=failed", "u2/push=failed", "u3/email=failed"}, h.outcomes())
}

func TestCancelledPostingSendsNothingMoreAndReportsEachRowOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	ctx := context.Background()
	// Batch 1 is recorded but its second row is still pending (as if the
	// worker were stopped midway).
	_, err := h.store.InsertPending(ctx, []domain.Key{{PostingID: "p1", UserID: "u1", Channel: "email"}}, start)
	require.NoError(t, err)
	require.NoError(t, h.handler.Handle(ctx, emailBatch("p1", recipient("u0", "Ада"))))

	cancelled := postingCancelled("p1")
	require.NoError(t, h.cancel.Handle(ctx, cancelled))
	require.Equal(t, []string{"u0/email=sent", "u1/email=cancelled"}, h.outcomes())

	require.NoError(t, h.cancel.Handle(ctx, cancelled), "a repeated event")
	require.Len(t, h.events.published(), 2, "reports nothing new")

	// A later batch of the cancelled posting is recorded, never sent.
	require.NoError(t, h.handler.Handle(ctx, emailBatch("p1", recipient("u2", "Борис"))))
	require.Len(t, h.email.messages(), 1)
	require.Equal(t, []string{"u0/email=sent", "u1/email=cancelled", "u2/email=cancelled"}, h.outcomes())
	require.Equal(t, delivery.StatusCancelled, h.rows(t, "p1")["u2/email"].Status)
	require.Equal(t, delivery.StatusSent, h.rows(t, "p1")["u0/email"].Status, "what was sent stays sent")
}

func TestCancellationDuringRetriesStopsThem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	h.email.script = []error{errBusy}
	h.handler = mustHandlerWithSleep(t, h, func(ctx context.Context, d time.Duration) error {
		// The posting is cancelled during the backoff.
		return h.cancel.Handle(ctx, postingCancelled("p1"))
	})

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"))))
	require.Equal(t, 1, h.email.tries(), "neither the retry nor the next recipient is sent")
	rows := h.rows(t, "p1")
	require.Equal(t, delivery.StatusCancelled, rows["u1/email"].Status)
	require.Equal(t, 1, rows["u1/email"].Attempts)
	require.Equal(t, delivery.StatusCancelled, rows["u2/email"].Status)
	require.Equal(t, []string{"u1/email=cancelled", "u2/email=cancelled"}, h.outcomes())
	require.Len(t, h.events.published(), 1, "reported by the cancellation; the batch has nothing left to report")
}

func TestAttemptsCountAcrossRedeliveriesOfTheBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.RetryPolicy{MaxAttempts: 2, Backoff: time.Second})
	h.email.fail = func(app.Message) error { return errBusy }
	ctx, cancel := context.WithCancel(context.Background())
	h.handler = mustHandlerWithSleep(t, h, func(context.Context, time.Duration) error {
		cancel() // the worker stops during the first backoff
		return context.Canceled
	})
	batch := emailBatch("p1", recipient("u1", "Анна"))
	require.ErrorIs(t, h.handler.Handle(ctx, batch), context.Canceled)

	h.handler = mustHandlerWithSleep(t, h, nil)
	require.NoError(t, h.handler.Handle(context.Background(), batch))
	require.Empty(t, h.sleeps, "the redelivered batch makes the last allowed attempt, no more")
	require.Equal(t, 2, h.email.tries())
	row := h.rows(t, "p1")["u1/email"]
	require.Equal(t, delivery.StatusFailed, row.Status)
	require.Equal(t, 2, row.Attempts)
}

func TestEndedContextLeavesTheRowPendingAndReportsWhatIsFinal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	h.email.script = []error{nil, errBusy}
	ctx, cancel := context.WithCancel(context.Background())
	h.handler = mustHandlerWithSleep(t, h, func(context.Context, time.Duration) error {
		cancel() // the router is shutting down during the backoff
		return context.Canceled
	})

	err := h.handler.Handle(ctx, emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"), recipient("u3", "Вера")))
	require.ErrorIs(t, err, context.Canceled, "the batch is redelivered")
	require.Equal(t, []string{"u1/email=sent"}, h.outcomes(), "what became final is reported")
	rows := h.rows(t, "p1")
	require.Equal(t, delivery.StatusPending, rows["u2/email"].Status)
	require.Equal(t, 1, rows["u2/email"].Attempts)
	require.Equal(t, delivery.StatusPending, rows["u3/email"].Status)

	// Redelivered: the retry counts on from the recorded attempt.
	h.handler = mustHandlerWithSleep(t, h, nil)
	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"), recipient("u3", "Вера"))))
	require.Equal(t, []string{"u1/email=sent", "u2/email=sent", "u3/email=sent"}, h.outcomes())
	require.Equal(t, 2, h.rows(t, "p1")["u2/email"].Attempts)
}

func TestAShutdownDrainsTheBatchInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	ctx, cancel := context.WithCancel(context.Background())
	h.email.fail = func(app.Message) error {
		cancel() // the service starts stopping during the first send
		return nil
	}

	err := h.handler.Handle(ctx, emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"), recipient("u3", "Вера")))

	require.NoError(t, err)
	require.Equal(t, []string{"u1/email=sent", "u2/email=sent", "u3/email=sent"}, h.outcomes(),
		"the batch in flight is finished, not abandoned half-way")
}

func TestMalformedBatchIsRefusedPermanently(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	err := h.handler.Handle(context.Background(), delivery.DeliverBatch{Template: "email/hello.md"})
	require.True(t, messaging.IsPermanent(err))

	// Items that cannot be keyed are dropped; the rest is delivered.
	batch := emailBatch("p1", recipient("u1", "Анна"), delivery.Recipient{Email: "anon@example.com"})
	require.NoError(t, h.handler.Handle(context.Background(), batch))
	require.Equal(t, []string{"u1/email=sent"}, h.outcomes())
}

func TestFailedPublishIsReturnedForARetryThatReportsEverythingOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	batch := emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"))
	batch.Skipped = []delivery.SkippedItem{{UserID: "u3", Channel: "email", Reason: "opted out"}}
	ctx := context.Background()

	h.events.fail = errors.New("broker down")
	err := h.handler.Handle(ctx, batch)
	require.ErrorContains(t, err, "broker down")
	require.False(t, messaging.IsPermanent(err), "worth a redelivery")
	require.Len(t, h.email.messages(), 2, "the messages went out before the report")
	for _, r := range h.rows(t, "p1") {
		require.True(t, domain.IsFinal(r.Status), r.UserID)
		require.False(t, r.Reported, "%s: final but not reported", r.UserID)
	}

	h.events.fail = nil
	require.NoError(t, h.handler.Handle(ctx, batch), "the redelivered batch")
	require.Len(t, h.email.messages(), 2, "nothing is sent twice")
	require.Equal(t, []string{"u1/email=sent", "u2/email=sent", "u3/email=skipped"}, h.outcomes(),
		"what the failed attempt left unreported is reported, in one event")
	require.Len(t, h.events.published(), 1)

	require.NoError(t, h.handler.Handle(ctx, batch), "redelivered once more")
	require.Len(t, h.events.published(), 1, "nothing is reported twice")
}

func TestBatchReportsRowsACrashedAttemptLeftFinalButUnreported(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	ctx := context.Background()
	// An earlier attempt sent u1 and died before its report.
	u1 := domain.Key{PostingID: "p1", UserID: "u1", Channel: "email"}
	_, err := h.store.InsertPending(ctx, []domain.Key{u1}, start)
	require.NoError(t, err)
	_, _, err = h.store.Finish(ctx, u1, app.Final{Status: delivery.StatusSent, MessageID: u1.MessageID(), Attempted: true, At: start})
	require.NoError(t, err)

	require.NoError(t, h.handler.Handle(ctx, emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"))))
	require.Len(t, h.email.messages(), 1, "u1 is not sent again")
	require.Equal(t, "u2@example.com", h.email.messages()[0].To)
	require.Equal(t, []string{"u1/email=sent", "u2/email=sent"}, h.outcomes())
	require.Len(t, h.events.published(), 1)
}

func TestCancellationReportsWhatItCouldNotPublishAtItsRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	ctx := context.Background()
	_, err := h.store.InsertPending(ctx, []domain.Key{{PostingID: "p1", UserID: "u1", Channel: "email"}}, start)
	require.NoError(t, err)

	h.events.fail = errors.New("broker down")
	require.ErrorContains(t, h.cancel.Handle(ctx, postingCancelled("p1")), "broker down")
	require.Equal(t, delivery.StatusCancelled, h.rows(t, "p1")["u1/email"].Status)

	h.events.fail = nil
	require.NoError(t, h.cancel.Handle(ctx, postingCancelled("p1")))
	require.NoError(t, h.cancel.Handle(ctx, postingCancelled("p1")))
	require.Equal(t, []string{"u1/email=cancelled"}, h.outcomes(), "reported once, by the redelivered event")
}

func TestNewDeliverBatchHandlerRejectsMissingDependencies(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	_, err := app.NewDeliverBatchHandler(nil, nil, h.workers, h.events, h.clock, defaultPolicy, nil)
	require.Error(t, err)
	_, err = app.NewDeliverBatchHandler(h.store, renderer(t), nil, h.events, h.clock, defaultPolicy, discard())
	require.Error(t, err, "no workers")
	_, err = app.NewDeliverBatchHandler(h.store, renderer(t), h.workers, h.events, h.clock, app.RetryPolicy{}, discard())
	require.Error(t, err, "no attempt allowed")
	_, err = app.NewDeliverBatchHandler(h.store, renderer(t), h.workers, h.events, h.clock, defaultPolicy, discard(),
		app.WithLimiters(app.Limiters{"email": nil}))
	require.Error(t, err, "nil limiter")
}

func TestTemplateForPicksTheChannelDirectory(t *testing.T) {
	t.Parallel()
	require.Equal(t, "email/new_movies.md", app.TemplateFor("email/new_movies.md", "email"))
	require.Equal(t, "sms/new_movies.md", app.TemplateFor("email/new_movies.md", "sms"))
	require.Equal(t, "email/phone_confirmation.md", app.TemplateFor("sms/phone_confirmation.md", "email"))
}
