package notifiertest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/demodirectory"
)

func TestTheSameEventTwiceMakesOnePostingAndOneEmail(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-dup-1")

	n.PublishEvent(t, body)
	n.PublishEvent(t, body)
	n.WaitForPostingsFromEvent(t, "evt-dup-1", 1)
	// A later, different event flushes the intake: once its email is out,
	// the duplicate has long been seen.
	n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", boris), "evt-dup-2"))
	n.WaitForPostingsFromEvent(t, "evt-dup-2", 1)

	require.Len(t, n.PostingsFromEvent(t, "evt-dup-1"), 1)
	require.ElementsMatch(t, []string{"anna@example.com", "boris@example.com"}, recipients(n.Outbox.ByChannel("email")))
}

func TestAnEventWithoutIDIsDeduplicatedByItsMessageIDOrItsBody(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := seed(t, "event_user_signed_up.json", "<uuid>", anna)

	n.PublishEventWithID(t, body, "amqp-msg-1")
	n.PublishEventWithID(t, body, "amqp-msg-1")
	n.WaitForPostingsFromEvent(t, "amqp-msg-1", 1)

	// Through the HTTP intake the key is the SHA-256 of the body.
	first := n.Do(t, http.MethodPost, "/api/v1/events", notifiertest.ServiceToken, seed(t, "event_user_signed_up.json", "<uuid>", vera))
	second := n.Do(t, http.MethodPost, "/api/v1/events", notifiertest.ServiceToken, seed(t, "event_user_signed_up.json", "<uuid>", vera))
	require.Equal(t, http.StatusAccepted, first.Status, string(first.Body))
	require.Equal(t, first.Map(t)["event_id"], second.Map(t)["event_id"])
	key := first.Map(t)["event_id"].(string)
	n.WaitForPostingsFromEvent(t, key, 1)

	require.Len(t, n.PostingsFromEvent(t, "amqp-msg-1"), 1)
	require.Len(t, n.PostingsFromEvent(t, key), 1)
	require.ElementsMatch(t, []string{"anna@example.com", "vera@example.com"}, recipients(n.Outbox.ByChannel("email")))
}

func TestTheSamePostingKeyTwiceReturnsTheSamePosting(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := seed(t, "posting_email_confirmation.json", "<uuid>", anna)
	headers := map[string]string{"Idempotency-Key": "confirm-anna-1"}

	first := n.DoWithHeaders(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body, headers)
	second := n.DoWithHeaders(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body, headers)

	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	require.Equal(t, http.StatusOK, second.Status, string(second.Body))
	require.Equal(t, first.Map(t)["id"], second.Map(t)["id"])
	n.WaitForPosting(t, first.Map(t)["id"].(string))
	require.Len(t, n.Outbox.ByChannel("email"), 1)
}

func TestBadEventsGoToThePoisonQueueWithTheirReasonAndTheIntakeGoesOn(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	n.PublishEvent(t, `{"from_service": "auth", "event": "user_signed_up", "details": `) // malformed
	n.PublishEvent(t, `{"from_service": "auth", "event": "user_deleted", "details": {}}`)
	n.PublishEvent(t, `{"from_service": "auth", "event": "user_signed_up"}`)

	poisoned := n.WaitForPoisoned(t, 3)
	reasons := []string{poisoned[0].Reason, poisoned[1].Reason, poisoned[2].Reason}
	joined := strings.Join(reasons, "\n")
	require.Contains(t, joined, "user_deleted")
	require.Contains(t, joined, "details")
	// Still alive: a good event after the bad ones is delivered.
	n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-after-poison"))
	n.WaitForPostingsFromEvent(t, "evt-after-poison", 1)
	require.Len(t, n.Outbox.ByChannel("email"), 1)
}

// blockingDirectory holds every directory answer until released, so a
// test can move the clock while a posting is in flight.
type blockingDirectory struct {
	next    http.Handler
	release chan struct{}
}

func (b blockingDirectory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	<-b.release
	b.next.ServeHTTP(w, r)
}

func TestPhoneCodeThatExpiresBeforeDeliveryIsNeverSent(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	demo, err := demodirectory.LoadDefault()
	require.NoError(t, err)
	dir := blockingDirectory{next: demodirectory.NewAuth(demo), release: make(chan struct{})}
	n := notifiertest.Start(t, notifiertest.WithClock(fake), notifiertest.WithUpstream("auth", dir))

	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		seed(t, "posting_phone_confirmation.json", "<uuid>", anna))
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	id := resp.Map(t)["id"].(string)

	fake.Advance(121 * time.Second) // "expires_in": "120 sec"
	close(dir.release)

	p := n.WaitForPosting(t, id)
	require.Equal(t, "expired", p.Status)
	require.Empty(t, n.Outbox.Messages())
}

func TestScheduledPostingCanBeCancelledAndSendsNothing(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	n := notifiertest.Start(t, notifiertest.WithClock(fake))

	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ManagerToken, `{
		"receivers": "http://auth/api/v1/users/?is_active=True",
		"template": "email/new_movies.md",
		"delivery_type": ["email"],
		"send_at": "2026-11-28T09:00:00Z"
	}`)
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	require.Equal(t, "scheduled", resp.Map(t)["status"])
	id := resp.Map(t)["id"].(string)

	forbidden := n.Do(t, http.MethodPost, "/api/v1/postings/"+id+"/cancel", notifiertest.ServiceToken, nil)
	require.Equal(t, http.StatusForbidden, forbidden.Status)
	cancelled := n.Do(t, http.MethodPost, "/api/v1/postings/"+id+"/cancel", notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusOK, cancelled.Status, string(cancelled.Body))
	require.Equal(t, "cancelled", cancelled.Map(t)["status"])
	again := n.Do(t, http.MethodPost, "/api/v1/postings/"+id+"/cancel", notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusConflict, again.Status)

	fake.Advance(48 * time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := n.Outbox.Wait(ctx, 1)
	require.Error(t, err, "a cancelled posting sends nothing")
}

func TestAMailingWalksTheDirectoryPageByPage(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(1234)
	n := notifiertest.Start(t, notifiertest.WithUsers(users...))

	n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-big-1"))

	p := n.WaitForPostingsFromEvent(t, "evt-big-1", 1)[0]
	require.Equal(t, "completed", p.Status)
	require.Equal(t, 1234, p.Counters.Recipients)
	require.Equal(t, 1234, p.Counters.Sent)
	seen := map[string]int{}
	for _, m := range n.Outbox.ByChannel("email") {
		seen[m.To]++
	}
	require.Len(t, seen, 1234)
	for to, count := range seen {
		require.Equal(t, 1, count, to)
	}
}

func TestMandatoryConfirmationIgnoresOptOuts(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	resp := n.Do(t, http.MethodPut, "/api/v1/users/"+anna+"/preferences", notifiertest.ManagerToken,
		`{"channels": {"email": false, "sms": false}, "types": {"email_confirmation": false}}`)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))

	resp = n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		seed(t, "posting_email_confirmation.json", "<uuid>", anna))
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	n.WaitForPosting(t, resp.Map(t)["id"].(string))
	require.Len(t, n.Outbox.ByChannel("email"), 1)

	// The same user gets no welcome email: that type is not mandatory.
	n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-optout-1"))
	p := n.WaitForPostingsFromEvent(t, "evt-optout-1", 1)[0]
	require.Equal(t, 1, p.Counters.Skipped)
	require.Len(t, n.Outbox.ByChannel("email"), 1)
}
