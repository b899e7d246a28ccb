package app_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/messaging"
)

// recordedMetrics is an app.Metrics that remembers what it was told.
type recordedMetrics struct {
	mu       sync.Mutex
	reported map[string]int // "lane/channel/status"
	attempts map[string]int // channel
	retries  map[string]int // "channel/class"
	pending  []string       // "lane since" of the batches pending now
	seen     []string       // every batch ever pending
	// suppressed counts "lane/channel" skipped as suppressed; added
	// counts "source/channel" put on the suppression list.
	suppressed map[string]int
	added      map[string]int
}

func newRecordedMetrics() *recordedMetrics {
	return &recordedMetrics{reported: map[string]int{}, attempts: map[string]int{}, retries: map[string]int{},
		suppressed: map[string]int{}, added: map[string]int{}}
}

func (m *recordedMetrics) Suppressed(lane, channel string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.suppressed[lane+"/"+channel] += n
}

func (m *recordedMetrics) SuppressionAdded(source, channel string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.added[source+"/"+channel]++
}

// suppressions returns copies of the suppression counts.
func (m *recordedMetrics) suppressions() (suppressed, added map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := func(in map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range in {
			out[k] = v
		}
		return out
	}
	return cp(m.suppressed), cp(m.added)
}

func (m *recordedMetrics) Reported(lane, channel, status string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reported[lane+"/"+channel+"/"+status] += n
}

func (m *recordedMetrics) Attempted(channel string, elapsed time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if elapsed >= 0 {
		m.attempts[channel]++
	}
}

func (m *recordedMetrics) Retried(channel string, class app.RetryClass) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retries[channel+"/"+string(class)]++
}

func (m *recordedMetrics) Pending(lane string, since time.Time) func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	entry := lane + " " + since.Format(time.RFC3339)
	m.pending = append(m.pending, entry)
	m.seen = append(m.seen, entry)
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		for i, e := range m.pending {
			if e == entry {
				m.pending = append(m.pending[:i], m.pending[i+1:]...)
				return
			}
		}
	}
}

func (m *recordedMetrics) snapshot() (reported, attempts, retries map[string]int, pending, seen []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := func(in map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range in {
			out[k] = v
		}
		return out
	}
	p := append([]string(nil), m.pending...)
	s := append([]string(nil), m.seen...)
	sort.Strings(s)
	return cp(m.reported), cp(m.attempts), cp(m.retries), p, s
}

// published returns a context holding a message stamped as published at.
func published(at time.Time) context.Context {
	msg := message.NewMessage("m1", nil)
	msg.Metadata.Set(messaging.PublishedAtKey, at.Format(time.RFC3339Nano))
	return cqrs.CtxWithOriginalMessage(context.Background(), msg)
}

func TestABatchTellsTheMetricsEachSendRetryAndOutcomeOnItsLane(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	m := newRecordedMetrics()
	h.handler = mustHandlerWithSleep(t, h, nil, app.WithMetrics(m))
	h.email.script = []error{app.TransientAs(app.RetryServer, errors.New("smtp: 451")), errors.New("smtp: 550 5.1.1")}
	batch := emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"), recipient("u3", "Вера"))
	batch.Skipped = []delivery.SkippedItem{{UserID: "u4", Channel: "sms", Reason: "opted out"}}

	var pendingDuring []string
	h.email.fail = func(app.Message) error {
		_, _, _, pendingDuring, _ = m.snapshot()
		return nil
	}
	require.NoError(t, h.handler.Handle(published(start.Add(-time.Minute)), batch))

	reported, attempts, retries, pending, _ := m.snapshot()
	require.Equal(t, map[string]int{"bulk/email/sent": 2, "bulk/email/failed": 1, "bulk/sms/skipped": 1}, reported)
	require.Equal(t, map[string]int{"email": 4}, attempts, "u1 twice, u2 and u3 once")
	require.Equal(t, map[string]int{"email/server": 1}, retries)
	require.Equal(t, []string{"bulk " + start.Add(-time.Minute).Format(time.RFC3339)}, pendingDuring,
		"pending from when the batch was published, while it sends")
	require.Empty(t, pending, "and no longer once it is done")
}

func TestARedeliveredBatchWithNothingPendingIsNotPendingAndCountsNothingTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	m := newRecordedMetrics()
	h.handler = mustHandlerWithSleep(t, h, nil, app.WithMetrics(m))
	batch := emailBatch("p1", recipient("u1", "Анна"))
	batch.Lane = delivery.LaneTransactional

	require.NoError(t, h.handler.Handle(context.Background(), batch))
	require.NoError(t, h.handler.Handle(context.Background(), batch))

	reported, attempts, _, _, seen := m.snapshot()
	require.Equal(t, map[string]int{"transactional/email/sent": 1}, reported)
	require.Equal(t, map[string]int{"email": 1}, attempts)
	require.Equal(t, []string{"transactional " + start.Format(time.RFC3339)}, seen,
		"without a publish stamp, pending from its arrival; the copy has nothing pending")
}

func TestOutcomesAreCountedOnlyOnceTheirReportStands(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	m := newRecordedMetrics()
	h.handler = mustHandlerWithSleep(t, h, nil, app.WithMetrics(m))
	batch := emailBatch("p1", recipient("u1", "Анна"))

	h.events.fail = errors.New("broker down")
	require.Error(t, h.handler.Handle(context.Background(), batch))
	reported, _, _, _, _ := m.snapshot()
	require.Empty(t, reported, "a failed handler's report rolls back with its unit of work")

	h.events.fail = nil
	require.NoError(t, h.handler.Handle(context.Background(), batch))
	reported, _, _, _, _ = m.snapshot()
	require.Equal(t, map[string]int{"bulk/email/sent": 1}, reported)
}

func TestARetryWithoutAKnownClassIsOtherAndGivingUpIsNoRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.RetryPolicy{MaxAttempts: 2, Backoff: time.Second, MaxWaiting: 1})
	m := newRecordedMetrics()
	h.handler = mustHandlerWithSleep(t, h, nil, app.WithMetrics(m))
	h.email.script = []error{errBusy, errBusy}

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"))))

	reported, attempts, retries, _, _ := m.snapshot()
	require.Equal(t, map[string]int{"email/other": 1}, retries, "the second failure was the last attempt")
	require.Equal(t, map[string]int{"email": 2}, attempts)
	require.Equal(t, map[string]int{"bulk/email/failed": 1}, reported)
}

func TestCancelledDeliveriesAreCountedOnThePostingsLane(t *testing.T) {
	t.Parallel()
	for priority, lane := range map[posting.Priority]string{
		posting.PriorityTransactional: "transactional",
		posting.PriorityBulk:          "bulk",
		"":                            "bulk", // an event from before the priority was in it
	} {
		t.Run(fmt.Sprintf("priority %q", priority), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, defaultPolicy)
			m := newRecordedMetrics()
			cancel, err := app.NewCancelDeliveriesOnPostingCancelled(h.store, h.events, h.clock, discard(), app.WithCancelMetrics(m))
			require.NoError(t, err)
			ctx := context.Background()
			_, err = h.store.InsertPending(ctx, []domain.Key{
				{PostingID: "p1", UserID: "u1", Channel: "email"},
				{PostingID: "p1", UserID: "u2", Channel: "email"},
				{PostingID: "p1", UserID: "u2", Channel: "sms"},
			}, start)
			require.NoError(t, err)
			ev := postingCancelled("p1")
			ev.Priority = priority

			h.events.fail = errors.New("broker down")
			require.Error(t, cancel.Handle(ctx, ev))
			h.events.fail = nil
			require.NoError(t, cancel.Handle(ctx, ev))
			require.NoError(t, cancel.Handle(ctx, ev), "a repeated event")

			reported, _, _, _, _ := m.snapshot()
			require.Equal(t, map[string]int{lane + "/email/cancelled": 2, lane + "/sms/cancelled": 1}, reported)
		})
	}
}
