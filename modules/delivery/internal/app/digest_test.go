package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// likesPolicy holds the "reactions" type an hour, grouped by reaction type.
var likesPolicy = map[string]app.DigestPolicy{
	"reactions": {Window: time.Hour, Template: "likes_digest.md", GroupBy: "reaction_type", MaxItems: 50},
}

func digestHarness(t *testing.T, policies map[string]app.DigestPolicy) (*harness, *memory.Digests, *app.FlushDigests, *handlerBus) {
	t.Helper()
	h := newHarness(t, defaultPolicy)
	digests := memory.NewDigests()
	h.handler = mustHandlerWithSleep(t, h, nil, app.WithDigests(digests, policies, time.UTC), app.WithQuietHours(memory.NewDeferred()))
	bus := &handlerBus{h: h.handler}
	flush, err := app.NewFlushDigests(digests, bus, h.clock, discard(), 7*24*time.Hour)
	require.NoError(t, err)
	return h, digests, flush, bus
}

// reaction is the batch of one reactions event: one posting, one
// recipient (the review's author).
func reaction(postingID string, r delivery.Recipient, kind string, total int) delivery.DeliverBatch {
	return delivery.DeliverBatch{
		PostingID: postingID, BatchNo: 1, Lane: delivery.LaneBulk, NotificationType: "reactions",
		Template:        "email/hello.md",
		TemplateContext: map[string]any{"reaction_type": kind, "total": float64(total)},
		Unsubscribe:     true,
		Items:           []delivery.Item{{Channel: "email", Recipient: r}},
	}
}

func TestReactionsAreHeldThenGoAsOneDigestThatEndsEachOfThem(t *testing.T) {
	t.Parallel()
	h, digests, flush, _ := digestHarness(t, likesPolicy)
	ctx := context.Background()
	boris := recipient("u2", "Борис")
	for i, b := range []delivery.DeliverBatch{
		reaction("p1", boris, "like", 5), reaction("p2", boris, "like", 7), reaction("p3", boris, "comment", 3),
	} {
		h.clock.Advance(time.Minute)
		require.NoError(t, h.handler.Handle(ctx, b), "batch %d", i)
	}
	assert.Empty(t, h.email.messages(), "held, nothing sent")
	assert.Empty(t, h.outcomes(), "held rows are not final")
	assert.Equal(t, 1, digests.Open())
	for _, p := range []string{"p1", "p2", "p3"} {
		assert.Equal(t, delivery.StatusPending, h.rows(t, p)["u2/email"].Status)
	}

	h.clock.Advance(57 * time.Minute) // an hour after the first, a minute short
	n, err := flush.Tick(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "not due yet")
	h.clock.Advance(time.Minute)
	n, err = flush.Tick(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	msgs := h.email.messages()
	require.Len(t, msgs, 1, "one message for the three")
	m := msgs[0]
	assert.Equal(t, "15 reactions", m.Subject)
	assert.Contains(t, m.Text, "[like=12/2][comment=3/1]")
	assert.Contains(t, m.Text, "<p1:5><p2:7><p3:3> more=0 count=3")
	assert.Equal(t, "u2@example.com", m.To)
	for _, p := range []string{"p1", "p2", "p3"} {
		r := h.rows(t, p)["u2/email"]
		assert.Equal(t, delivery.StatusSent, r.Status, p)
		assert.Equal(t, m.ID, r.MessageID, "each part names the digest's message")
	}
	assert.ElementsMatch(t, []string{"u2/email=sent", "u2/email=sent", "u2/email=sent"}, h.outcomes())
	for _, ev := range h.events.published() {
		assert.False(t, strings.HasPrefix(ev.PostingID, delivery.DigestPostingPrefix), "the digest's own row is never reported to postings")
	}
	assert.Zero(t, digests.Open())

	// A redelivered event's batch adds nothing: its row is final.
	require.NoError(t, h.handler.Handle(ctx, reaction("p2", boris, "like", 7)))
	assert.Zero(t, digests.Open())
	h.clock.Advance(2 * time.Hour)
	n, err = flush.Tick(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Len(t, h.email.messages(), 1)
}

func TestARedeliveredBatchWhileHeldAddsNothing(t *testing.T) {
	t.Parallel()
	h, _, flush, _ := digestHarness(t, likesPolicy)
	ctx := context.Background()
	boris := recipient("u2", "Борис")
	require.NoError(t, h.handler.Handle(ctx, reaction("p1", boris, "like", 5)))
	require.NoError(t, h.handler.Handle(ctx, reaction("p1", boris, "like", 5)))
	require.NoError(t, h.handler.Handle(ctx, reaction("p2", boris, "like", 1)))
	h.clock.Advance(time.Hour)
	_, err := flush.Tick(ctx)
	require.NoError(t, err)
	msgs := h.email.messages()
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0].Text, "<p1:5><p2:1> more=0 count=2")
}

func TestADigestBatchDeliveredTwiceSendsOnce(t *testing.T) {
	t.Parallel()
	h, digests, _, bus := digestHarness(t, likesPolicy)
	ctx := context.Background()
	require.NoError(t, h.handler.Handle(ctx, reaction("p1", recipient("u2", "Борис"), "like", 5)))
	h.clock.Advance(time.Hour)
	var sent []delivery.DeliverBatch
	record := &recordingBus{next: bus, got: &sent}
	f, err := app.NewFlushDigests(digests, record, h.clock, discard(), time.Hour)
	require.NoError(t, err)
	_, err = f.Tick(ctx)
	require.NoError(t, err)
	require.Len(t, sent, 1)
	require.NoError(t, h.handler.Handle(ctx, sent[0]), "the broker delivers the digest's batch again")
	assert.Len(t, h.email.messages(), 1)
	assert.Equal(t, []string{"u2/email=sent"}, h.outcomes())
}

func TestExpiredPartsDropOutAndAnEmptyDigestSendsNothing(t *testing.T) {
	t.Parallel()
	h, _, flush, _ := digestHarness(t, likesPolicy)
	ctx := context.Background()
	boris, vera := recipient("u2", "Борис"), recipient("u3", "Вера")
	soon := start.Add(30 * time.Minute)
	later := start.Add(3 * time.Hour)
	short := reaction("p1", boris, "like", 5)
	short.ExpiresAt = &soon
	long := reaction("p2", boris, "like", 2)
	long.ExpiresAt = &later
	onlyShort := reaction("p3", vera, "like", 9)
	onlyShort.ExpiresAt = &soon
	for _, b := range []delivery.DeliverBatch{short, long, onlyShort} {
		require.NoError(t, h.handler.Handle(ctx, b))
	}
	h.clock.Advance(time.Hour)
	n, err := flush.Tick(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	msgs := h.email.messages()
	require.Len(t, msgs, 1, "Вера's digest had only an expired part: nothing sent to her")
	assert.Equal(t, "u2@example.com", msgs[0].To)
	assert.Contains(t, msgs[0].Text, "<p2:2> more=0 count=1", "the expired part is not listed")
	assert.Equal(t, delivery.StatusExpired, h.rows(t, "p1")["u2/email"].Status)
	assert.Equal(t, "expired while held for the digest", h.rows(t, "p1")["u2/email"].Error)
	assert.Equal(t, delivery.StatusSent, h.rows(t, "p2")["u2/email"].Status)
	assert.Equal(t, delivery.StatusExpired, h.rows(t, "p3")["u3/email"].Status)
	assert.ElementsMatch(t, []string{"u2/email=expired", "u2/email=sent", "u3/email=expired"}, h.outcomes())
}

func TestACancelledPostingLeavesTheDigest(t *testing.T) {
	t.Parallel()
	h, _, flush, _ := digestHarness(t, likesPolicy)
	ctx := context.Background()
	boris := recipient("u2", "Борис")
	require.NoError(t, h.handler.Handle(ctx, reaction("p1", boris, "like", 5)))
	require.NoError(t, h.handler.Handle(ctx, reaction("p2", boris, "like", 2)))
	require.NoError(t, h.cancel.Handle(ctx, postingCancelled("p1")))
	h.clock.Advance(time.Hour)
	_, err := flush.Tick(ctx)
	require.NoError(t, err)
	msgs := h.email.messages()
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0].Text, "<p2:2> more=0 count=1")
	assert.Equal(t, delivery.StatusCancelled, h.rows(t, "p1")["u2/email"].Status)
	assert.Equal(t, delivery.StatusSent, h.rows(t, "p2")["u2/email"].Status)
}

func TestADigestRefusedForGoodFailsEachPartWithTheReason(t *testing.T) {
	t.Parallel()
	h, _, flush, _ := digestHarness(t, likesPolicy)
	h.email.fail = func(app.Message) error { return errors.New("550 5.7.1 message refused") }
	ctx := context.Background()
	boris := recipient("u2", "Борис")
	require.NoError(t, h.handler.Handle(ctx, reaction("p1", boris, "like", 5)))
	require.NoError(t, h.handler.Handle(ctx, reaction("p2", boris, "like", 2)))
	h.clock.Advance(time.Hour)
	_, err := flush.Tick(ctx)
	require.NoError(t, err)
	for _, p := range []string{"p1", "p2"} {
		r := h.rows(t, p)["u2/email"]
		assert.Equal(t, delivery.StatusFailed, r.Status)
		assert.Equal(t, "digest failed: 550 5.7.1 message refused", r.Error)
	}
	assert.ElementsMatch(t, []string{"u2/email=failed", "u2/email=failed"}, h.outcomes())
}

func TestADigestAtTenGoesAtTenOnTheUsersClock(t *testing.T) {
	t.Parallel()
	h, _, flush, _ := digestHarness(t, map[string]app.DigestPolicy{
		"reactions": {At: 10 * 60, Template: "likes_digest.md", MaxItems: 50},
	})
	ctx := context.Background()
	h.clock.Set(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)) // 15:00 in Moscow: today's 10:00 is past
	anna := recipient("u1", "Анна")
	anna.Timezone = "Europe/Moscow"
	nobody := recipient("u5", "Без зоны") // default zone: UTC
	require.NoError(t, h.handler.Handle(ctx, reaction("p1", anna, "like", 1)))
	require.NoError(t, h.handler.Handle(ctx, reaction("p2", nobody, "like", 1)))

	h.clock.Set(time.Date(2026, 12, 7, 6, 59, 0, 0, time.UTC))
	n, err := flush.Tick(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	h.clock.Set(time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)) // 10:00 in Moscow
	n, err = flush.Tick(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.Equal(t, []string{"u1@example.com"}, tos(h.email.messages()))
	h.clock.Set(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)) // 10:00 UTC
	n, err = flush.Tick(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"u1@example.com", "u5@example.com"}, tos(h.email.messages()))
}

func TestOnlyTheDigestTypesChannelsAndTheBulkLaneAreHeld(t *testing.T) {
	t.Parallel()
	h, digests, _, _ := digestHarness(t, map[string]app.DigestPolicy{
		"reactions": {Window: time.Hour, Channels: []string{"email"}, Template: "likes_digest.md", MaxItems: 50},
	})
	ctx := context.Background()
	boris := recipient("u2", "Борис")
	sms := reaction("p1", boris, "like", 1)
	sms.Template = "sms/hello.md"
	sms.Items = []delivery.Item{{Channel: "sms", Recipient: boris}}
	other := emailBatch("p2", boris)
	code := reaction("p3", boris, "like", 1)
	code.Lane = delivery.LaneTransactional
	for _, b := range []delivery.DeliverBatch{sms, other, code} {
		require.NoError(t, h.handler.Handle(ctx, b))
	}
	assert.Zero(t, digests.Open())
	assert.Len(t, h.sms.messages(), 1)
	assert.Len(t, h.email.messages(), 2)
}

func TestTheDigestListsTheNewestItemsButCountsThemAll(t *testing.T) {
	t.Parallel()
	h, _, flush, _ := digestHarness(t, map[string]app.DigestPolicy{
		"reactions": {Window: time.Hour, Template: "likes_digest.md", GroupBy: "reaction_type", MaxItems: 2},
	})
	ctx := context.Background()
	boris := recipient("u2", "Борис")
	for i, p := range []string{"p1", "p2", "p3", "p4"} {
		h.clock.Advance(time.Second)
		require.NoError(t, h.handler.Handle(ctx, reaction(p, boris, "like", i+1)))
	}
	h.clock.Advance(time.Hour)
	_, err := flush.Tick(ctx)
	require.NoError(t, err)
	msgs := h.email.messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "10 reactions", msgs[0].Subject)
	assert.Contains(t, msgs[0].Text, "[like=10/4]<p3:3><p4:4> more=2 count=4")
}

func TestADigestThatCannotBeSentNowStaysForTheNextTick(t *testing.T) {
	t.Parallel()
	h, digests, _, bus := digestHarness(t, likesPolicy)
	ctx := context.Background()
	require.NoError(t, h.handler.Handle(ctx, reaction("p1", recipient("u2", "Борис"), "like", 5)))
	h.clock.Advance(time.Hour)
	bus.fail = true
	f, err := app.NewFlushDigests(digests, bus, h.clock, discard(), time.Hour)
	require.NoError(t, err)
	_, err = f.Tick(ctx)
	require.Error(t, err)
	assert.Equal(t, 1, digests.Open(), "open again")
	bus.fail = false
	n, err := f.Tick(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Len(t, h.email.messages(), 1)
}

// recordingBus records the batches before passing them on.
type recordingBus struct {
	next *handlerBus
	got  *[]delivery.DeliverBatch
}

func (b *recordingBus) Send(ctx context.Context, cmd any) error {
	*b.got = append(*b.got, *cmd.(*delivery.DeliverBatch))
	return b.next.Send(ctx, cmd)
}

func tos(msgs []app.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.To
	}
	return out
}
