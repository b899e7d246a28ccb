// Package storetest is the contract every webhooks app.Store passes: the
// in-memory store and the PostgreSQL store. Call Run from the adapter's
// tests.
package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

// base is a time every database keeps exactly (whole microseconds, UTC).
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the contract against stores made by newStore; each test gets its
// own store, and may run in parallel with the others.
func Run(t *testing.T, newStore func(t *testing.T) app.Store) {
	t.Helper()
	tests := map[string]func(t *testing.T, s app.Store){
		"EndpointsAreStoredReadListedUpdatedAndDeleted":      endpointsRoundTrip,
		"SubscribersAreTheEnabledEndpointsOfTheTypes":        subscribers,
		"EnqueueStoresAnEventOncePerEndpoint":                enqueueOncePerEndpoint,
		"ClaimTakesDueMessagesEarliestFirstAndLeasesThem":    claimLeases,
		"ConcurrentClaimsNeverTakeOneMessageTwice":           concurrentClaims,
		"RecordDeliveredDeletesTheMessageAndNotesTheSuccess": recordDelivered,
		"RecordRetryMakesTheMessageDueLater":                 recordRetry,
		"RecordGiveUpDisablesAnEndpointThatTookNothing":      recordGiveUpDisables,
		"RecordGiveUpSparesAnEndpointThatTookAnother":        recordGiveUpSpares,
		"RecordGoneDisablesAndKeepsTheMessage":               recordGone,
		"RecordOfAMessageClaimedAgainOnlyAddsHistory":        recordAfterReclaim,
		"HistoryKeepsTheLastAttemptsPagedMostRecentFirst":    historyPages,
		"EnableMakesTheMessagesDueAgainFromTheStart":         enableReschedules,
		"DeleteTakesTheMessagesAndHistoryAlong":              deleteCascades,
		"ConcurrentUpdatesOfAnEndpointLoseNoChange":          concurrentUpdates,
		"AChangedEndpointKeepsItsMessagesAndHistory":         changeKeepsMessages,
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newStore(t))
		})
	}
}

func endpoint(events ...string) domain.Endpoint {
	return domain.Endpoint{
		ID: uuid.New(), URL: "https://hooks.example.com/notifier?token=abc", Description: "CRM",
		Events: events, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: base, UpdatedAt: base,
	}
}

func create(t *testing.T, s app.Store, events ...string) domain.Endpoint {
	t.Helper()
	e := endpoint(events...)
	require.NoError(t, s.CreateEndpoint(context.Background(), e))
	return e
}

func message(e domain.Endpoint, key string, at time.Time) domain.Message {
	id, _ := uuid.NewV7()
	return domain.Message{
		ID: id, EndpointID: e.ID, EventKey: webhooks.EventDeliverySent + ":" + key, EventType: webhooks.EventDeliverySent,
		Payload: []byte(`{"type":"delivery.sent","key":"` + key + `"}`), CreatedAt: at, NextAttemptAt: at, ExpiresAt: at.Add(24 * time.Hour),
	}
}

func enqueue(t *testing.T, s app.Store, msgs ...domain.Message) {
	t.Helper()
	n, err := s.Enqueue(context.Background(), msgs)
	require.NoError(t, err)
	require.Equal(t, len(msgs), n)
}

func claim(t *testing.T, s app.Store, e domain.Endpoint, now time.Time, limit int) []domain.Message {
	t.Helper()
	msgs, err := s.Claim(context.Background(), e.ID, now, now.Add(time.Minute), limit)
	require.NoError(t, err)
	return msgs
}

func attempt(m domain.Message, at time.Time, result string) domain.Attempt {
	return domain.Attempt{EndpointID: m.EndpointID, MessageID: m.ID, EventType: m.EventType, Attempt: m.Attempts, At: at,
		StatusCode: 503, Error: "", Duration: 1500 * time.Microsecond, Result: result}
}

func record(t *testing.T, s app.Store, m domain.Message, at time.Time, o domain.Outcome) bool {
	t.Helper()
	result := domain.ResultFailure
	if o.Verdict == domain.Delivered {
		result = domain.ResultSuccess
	}
	a := attempt(m, at, result)
	if o.Verdict == domain.Retry {
		a.NextAttemptAt = &o.NextAttemptAt
	}
	disabled, err := s.Record(context.Background(), m, a, o)
	require.NoError(t, err)
	return disabled
}

func get(t *testing.T, s app.Store, id uuid.UUID) domain.Endpoint {
	t.Helper()
	e, err := s.GetEndpoint(context.Background(), id)
	require.NoError(t, err)
	return e
}

func pending(t *testing.T, s app.Store, e domain.Endpoint) int {
	t.Helper()
	p, err := s.PendingMessages(context.Background(), []uuid.UUID{e.ID})
	require.NoError(t, err)
	return p[e.ID]
}

func endpointsRoundTrip(t *testing.T, s app.Store) {
	ctx := context.Background()
	e := create(t, s, webhooks.EventDeliverySent, webhooks.EventPostingCompleted)
	later := endpoint(webhooks.EventPostingFailed)
	later.CreatedAt = base.Add(time.Second)
	require.NoError(t, s.CreateEndpoint(ctx, later))

	require.Equal(t, e, get(t, s, e.ID))
	all, err := s.ListEndpoints(ctx)
	require.NoError(t, err)
	require.Equal(t, []domain.Endpoint{e, later}, all, "oldest first")

	grace := base.Add(time.Hour)
	updated, err := s.UpdateEndpoint(ctx, e.ID, func(e *domain.Endpoint) error {
		e.Rotate("whsec_bmV3IHNlY3JldCBuZXcgc2VjcmV0IG5ldyBzZWNyZXQ=", time.Hour, base)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, e.Secret, updated.PreviousSecret)
	require.Equal(t, grace, *updated.PreviousSecretExpiresAt)
	require.Equal(t, updated, get(t, s, e.ID))

	_, err = s.UpdateEndpoint(ctx, e.ID, func(*domain.Endpoint) error { return fmt.Errorf("refused") })
	require.EqualError(t, err, "refused")
	require.Equal(t, updated, get(t, s, e.ID), "a refused update writes nothing")

	require.NoError(t, s.DeleteEndpoint(ctx, e.ID))
	_, err = s.GetEndpoint(ctx, e.ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
	require.ErrorIs(t, s.DeleteEndpoint(ctx, e.ID), domain.ErrNotFound)
	_, err = s.UpdateEndpoint(ctx, e.ID, func(*domain.Endpoint) error { return nil })
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = s.EnableEndpoint(ctx, e.ID, base, base)
	require.ErrorIs(t, err, domain.ErrNotFound)
}

func subscribers(t *testing.T, s app.Store) {
	ctx := context.Background()
	sent := create(t, s, webhooks.EventDeliverySent)
	both := create(t, s, webhooks.EventDeliverySent, webhooks.EventPostingCompleted)
	off := create(t, s, webhooks.EventDeliverySent)
	_, err := s.UpdateEndpoint(ctx, off.ID, func(e *domain.Endpoint) error { e.Disable("gone", base); return nil })
	require.NoError(t, err)

	ids := func(es []domain.Endpoint) []uuid.UUID {
		out := []uuid.UUID{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	got, err := s.Subscribers(ctx, []string{webhooks.EventDeliverySent, webhooks.EventDeliveryFailed})
	require.NoError(t, err)
	require.ElementsMatch(t, []uuid.UUID{sent.ID, both.ID}, ids(got), "enabled endpoints of any of the types")
	got, err = s.Subscribers(ctx, []string{webhooks.EventPostingCompleted})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{both.ID}, ids(got))
	got, err = s.Subscribers(ctx, []string{webhooks.EventDeliverySkipped})
	require.NoError(t, err)
	require.Empty(t, got)
}

func enqueueOncePerEndpoint(t *testing.T, s app.Store) {
	ctx := context.Background()
	a, b := create(t, s, webhooks.EventDeliverySent), create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(a, "p1:u1:email", base), message(b, "p1:u1:email", base))

	n, err := s.Enqueue(ctx, []domain.Message{
		message(a, "p1:u1:email", base), // the same event again
		message(a, "p1:u2:email", base),
		message(endpoint(webhooks.EventDeliverySent), "p1:u1:email", base), // no such endpoint
	})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 2, pending(t, s, a))
	require.Equal(t, 1, pending(t, s, b))
	total, err := s.CountMessages(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(3), total)
}

func claimLeases(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	second, first, later := message(e, "b", base.Add(time.Second)), message(e, "a", base), message(e, "c", base.Add(time.Hour))
	enqueue(t, s, second, first, later)
	other := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(other, "a", base))

	got := claim(t, s, e, base.Add(time.Minute), 1)
	require.Len(t, got, 1)
	require.Equal(t, first.ID, got[0].ID, "the earliest first")
	require.Equal(t, 1, got[0].Attempts, "a claim counts a try")
	require.Equal(t, base.Add(2*time.Minute), got[0].NextAttemptAt, "leased")
	require.Equal(t, first.Payload, got[0].Payload)
	require.Equal(t, first.ExpiresAt, got[0].ExpiresAt)

	got = claim(t, s, e, base.Add(time.Minute), 10)
	require.Len(t, got, 1, "the leased one and the later one are not due")
	require.Equal(t, second.ID, got[0].ID)

	got = claim(t, s, e, base.Add(3*time.Minute), 10)
	require.Len(t, got, 2, "leases over: both are due again")
	for _, m := range got {
		require.Equal(t, 2, m.Attempts)
	}
}

func concurrentClaims(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	const n = 60
	for i := range n {
		enqueue(t, s, message(e, fmt.Sprintf("m%d", i), base))
	}
	var (
		mu   sync.Mutex
		seen = map[uuid.UUID]int{}
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				got, err := s.Claim(context.Background(), e.ID, base, base.Add(time.Hour), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, n)
	for id, times := range seen {
		require.Equal(t, 1, times, "message %s claimed %d times", id, times)
	}
}

func recordDelivered(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(e, "a", base))
	m := claim(t, s, e, base, 1)[0]

	require.False(t, record(t, s, m, base.Add(time.Second), domain.Outcome{Verdict: domain.Delivered}))

	require.Zero(t, pending(t, s, e))
	require.Equal(t, base.Add(time.Second), *get(t, s, e.ID).LastSuccessAt)
	items, next, err := s.ListAttempts(context.Background(), e.ID, 10, "")
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, items, 1)
	a := items[0]
	require.Equal(t, int64(1), a.Seq)
	require.Equal(t, m.ID, a.MessageID)
	require.Equal(t, m.WebhookID(), a.WebhookID())
	require.Equal(t, webhooks.EventDeliverySent, a.EventType)
	require.Equal(t, 1, a.Attempt)
	require.Equal(t, base.Add(time.Second), a.At)
	require.Equal(t, 503, a.StatusCode)
	require.Equal(t, 1500*time.Microsecond, a.Duration)
	require.Equal(t, domain.ResultSuccess, a.Result)
	require.Nil(t, a.NextAttemptAt)

	// An older success does not move LastSuccessAt back.
	enqueue(t, s, message(e, "b", base))
	m = claim(t, s, e, base, 1)[0]
	record(t, s, m, base, domain.Outcome{Verdict: domain.Delivered})
	require.Equal(t, base.Add(time.Second), *get(t, s, e.ID).LastSuccessAt)
}

func recordRetry(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(e, "a", base))
	m := claim(t, s, e, base, 1)[0]
	next := base.Add(5 * time.Second)

	require.False(t, record(t, s, m, base, domain.Outcome{Verdict: domain.Retry, NextAttemptAt: next}))

	require.Empty(t, claim(t, s, e, next.Add(-time.Millisecond), 1), "not due before its next try")
	again := claim(t, s, e, next, 1)
	require.Len(t, again, 1)
	require.Equal(t, m.ID, again[0].ID, "the same message, so the same webhook-id")
	require.Equal(t, 2, again[0].Attempts)
	items, _, err := s.ListAttempts(context.Background(), e.ID, 10, "")
	require.NoError(t, err)
	require.Equal(t, next, *items[0].NextAttemptAt)
	require.Equal(t, domain.ResultFailure, items[0].Result)
	require.True(t, get(t, s, e.ID).Enabled())
}

func recordGiveUpDisables(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(e, "a", base), message(e, "b", base))
	m := claim(t, s, e, base, 1)[0]
	at := base.Add(24 * time.Hour)

	require.True(t, record(t, s, m, at, domain.Outcome{Verdict: domain.GiveUp, DisableReason: "no call succeeded"}))

	got := get(t, s, e.ID)
	require.False(t, got.Enabled())
	require.Equal(t, at, *got.DisabledAt)
	require.Equal(t, "no call succeeded", got.DisabledReason)
	require.Equal(t, 1, pending(t, s, e), "the given-up message is dropped, the others wait")
	subs, err := s.Subscribers(context.Background(), []string{webhooks.EventDeliverySent})
	require.NoError(t, err)
	require.Empty(t, subs, "a disabled endpoint receives no new events")

	m = claim(t, s, e, at, 1)[0]
	require.False(t, record(t, s, m, at.Add(time.Hour), domain.Outcome{Verdict: domain.GiveUp, DisableReason: "another reason"}))
	require.Equal(t, "no call succeeded", get(t, s, e.ID).DisabledReason, "the first reason stands")
}

func recordGiveUpSpares(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(e, "refused", base), message(e, "taken", base.Add(time.Second)))
	msgs := claim(t, s, e, base.Add(time.Second), 2)
	require.Len(t, msgs, 2)
	record(t, s, msgs[1], base.Add(time.Hour), domain.Outcome{Verdict: domain.Delivered})

	require.False(t, record(t, s, msgs[0], base.Add(24*time.Hour), domain.Outcome{Verdict: domain.GiveUp, DisableReason: "no call succeeded"}))

	require.True(t, get(t, s, e.ID).Enabled(), "it took a message since the given-up one was made")
	require.Zero(t, pending(t, s, e))
}

func recordGone(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(e, "a", base))
	m := claim(t, s, e, base, 1)[0]

	require.True(t, record(t, s, m, base, domain.Outcome{Verdict: domain.Gone, DisableReason: "the endpoint answered 410 Gone"}))

	got := get(t, s, e.ID)
	require.False(t, got.Enabled())
	require.Equal(t, "the endpoint answered 410 Gone", got.DisabledReason)
	require.Equal(t, 1, pending(t, s, e), "it waits for the endpoint to be enabled")
}

func recordAfterReclaim(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(e, "a", base))
	stale := claim(t, s, e, base, 1)[0]
	fresh := claim(t, s, e, base.Add(2*time.Minute), 1)[0] // the first lease ran out

	require.False(t, record(t, s, stale, base.Add(3*time.Minute), domain.Outcome{Verdict: domain.Delivered}))

	require.Equal(t, 1, pending(t, s, e), "the message is the second claim's")
	require.Nil(t, get(t, s, e.ID).LastSuccessAt)
	record(t, s, fresh, base.Add(3*time.Minute), domain.Outcome{Verdict: domain.Delivered})
	require.Zero(t, pending(t, s, e))
	items, _, err := s.ListAttempts(context.Background(), e.ID, 10, "")
	require.NoError(t, err)
	require.Len(t, items, 2, "both tries are in the history")
}

func historyPages(t *testing.T, s app.Store) {
	ctx := context.Background()
	e := create(t, s, webhooks.EventDeliverySent)
	other := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(other, "x", base))
	record(t, s, claim(t, s, other, base, 1)[0], base, domain.Outcome{Verdict: domain.Delivered})
	enqueue(t, s, message(e, "a", base))
	const tries = domain.HistorySize + 5
	for i := range tries {
		at := base.Add(time.Duration(i) * time.Minute)
		m := claim(t, s, e, at, 1)[0]
		record(t, s, m, at, domain.Outcome{Verdict: domain.Retry, NextAttemptAt: at.Add(time.Minute)})
	}

	var (
		all    []domain.Attempt
		cursor string
	)
	for {
		items, next, err := s.ListAttempts(ctx, e.ID, 30, cursor)
		require.NoError(t, err)
		all = append(all, items...)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, all, domain.HistorySize, "only the last %d are kept", domain.HistorySize)
	require.Equal(t, int64(tries), all[0].Seq, "the most recent first")
	require.Equal(t, tries, all[0].Attempt)
	require.Equal(t, int64(tries-domain.HistorySize+1), all[len(all)-1].Seq)
	for i := 1; i < len(all); i++ {
		require.Equal(t, all[i-1].Seq-1, all[i].Seq)
	}
	otherItems, _, err := s.ListAttempts(ctx, other.ID, 30, "")
	require.NoError(t, err)
	require.Len(t, otherItems, 1, "each endpoint its own history")

	_, _, err = s.ListAttempts(ctx, e.ID, 10, "not-a-cursor")
	require.ErrorIs(t, err, app.ErrInvalidCursor)
}

func enableReschedules(t *testing.T, s app.Store) {
	e := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(e, "a", base))
	m := claim(t, s, e, base, 1)[0]
	record(t, s, m, base, domain.Outcome{Verdict: domain.Gone, DisableReason: "the endpoint answered 410 Gone"})

	now := base.Add(48 * time.Hour)
	enabled, err := s.EnableEndpoint(context.Background(), e.ID, now, now.Add(24*time.Hour))
	require.NoError(t, err)

	require.True(t, enabled.Enabled())
	require.Empty(t, enabled.DisabledReason)
	require.Equal(t, enabled, get(t, s, e.ID))
	got := claim(t, s, e, now, 10)
	require.Len(t, got, 1)
	require.Equal(t, 1, got[0].Attempts, "tries count from the start again")
	require.Equal(t, now.Add(24*time.Hour), got[0].ExpiresAt)
}

func deleteCascades(t *testing.T, s app.Store) {
	ctx := context.Background()
	e := create(t, s, webhooks.EventDeliverySent)
	enqueue(t, s, message(e, "a", base), message(e, "b", base))
	m := claim(t, s, e, base, 1)[0]
	record(t, s, m, base, domain.Outcome{Verdict: domain.Delivered})

	require.NoError(t, s.DeleteEndpoint(ctx, e.ID))

	total, err := s.CountMessages(ctx)
	require.NoError(t, err)
	require.Zero(t, total)
	items, _, err := s.ListAttempts(ctx, e.ID, 10, "")
	require.NoError(t, err)
	require.Empty(t, items)
	// A try in flight when it was deleted records nothing, and fails not.
	_, err = s.Record(ctx, m, attempt(m, base, domain.ResultSuccess), domain.Outcome{Verdict: domain.Delivered})
	require.NoError(t, err)
}

func concurrentUpdates(t *testing.T, s app.Store) {
	ctx := context.Background()
	e := create(t, s, webhooks.EventDeliverySent)
	const writers = 12
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each reads the endpoint and adds to what it read: a store
			// that let two read the same row would lose one's change.
			_, err := s.UpdateEndpoint(ctx, e.ID, func(e *domain.Endpoint) error {
				e.Events = append(e.Events, fmt.Sprintf("event.%d", i))
				e.Description += "+"
				return nil
			})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()

	got := get(t, s, e.ID)
	require.Len(t, got.Events, 1+writers, "every writer's event is there")
	for i := range writers {
		require.Contains(t, got.Events, fmt.Sprintf("event.%d", i))
	}
	require.Equal(t, e.Description+strings.Repeat("+", writers), got.Description)
}

func changeKeepsMessages(t *testing.T, s app.Store) {
	ctx := context.Background()
	e := create(t, s, webhooks.EventDeliverySent)
	m := message(e, "p1:u1:email", base)
	enqueue(t, s, m)
	taken := claim(t, s, e, base, 1)
	require.Len(t, taken, 1)
	record(t, s, taken[0], base, domain.Outcome{Verdict: domain.Retry, NextAttemptAt: base.Add(time.Minute)})

	later := base.Add(time.Second)
	url, desc := "https://hooks.example.com/v2?token=def", ""
	changed, err := s.UpdateEndpoint(ctx, e.ID, func(e *domain.Endpoint) error {
		require.Equal(t, []string{"url", "events", "description"},
			e.Change(domain.EndpointChange{URL: &url, Events: []string{webhooks.EventPostingCompleted}, Description: &desc}, later))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, url, changed.URL)
	require.Equal(t, e.Secret, changed.Secret)
	require.Equal(t, later, changed.UpdatedAt)
	require.Equal(t, changed, get(t, s, e.ID))

	require.Equal(t, 1, pending(t, s, e), "the message waits still")
	again := claim(t, s, e, base.Add(time.Minute), 1)
	require.Len(t, again, 1, "and is due when it was")
	require.Equal(t, m.ID, again[0].ID)
	history, _, err := s.ListAttempts(ctx, e.ID, 10, "")
	require.NoError(t, err)
	require.Len(t, history, 1, "the history stays")
	subs, err := s.Subscribers(ctx, []string{webhooks.EventDeliverySent})
	require.NoError(t, err)
	require.Empty(t, subs, "new events follow the new types")
	subs, err = s.Subscribers(ctx, []string{webhooks.EventPostingCompleted})
	require.NoError(t, err)
	require.Len(t, subs, 1)
}
