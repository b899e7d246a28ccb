package notifiertest_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/messaging"
)

// poisonItem is an item of GET /api/v1/poison.
type poisonItem struct {
	ID             string `json:"id"`
	MessageID      string `json:"message_id"`
	Topic          string `json:"topic"`
	Handler        string `json:"handler"`
	Reason         string `json:"reason"`
	PoisonedAt     string `json:"poisoned_at"`
	PayloadPreview string `json:"payload_preview"`
	PayloadSize    int    `json:"payload_size"`
}

// poisonList reads the whole poison queue as an admin.
func poisonList(t *testing.T, n *notifiertest.Notifier, query string) []poisonItem {
	t.Helper()
	resp := n.Do(t, http.MethodGet, "/api/v1/poison"+query, notifiertest.AdminToken, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var page struct {
		Items []poisonItem `json:"items"`
	}
	resp.JSON(t, &page)
	return page.Items
}

// waitForPoisonList waits until the poison queue lists count messages (the
// recorder is a handler of its own: it may come after the log's).
func waitForPoisonList(t *testing.T, n *notifiertest.Notifier, count int) []poisonItem {
	t.Helper()
	var items []poisonItem
	require.Eventually(t, func() bool {
		items = poisonList(t, n, "")
		return len(items) == count
	}, 20*time.Second, 10*time.Millisecond, "want %d poisoned messages listed", count)
	return items
}

func intakeTopic(n *notifiertest.Notifier) string {
	if len(n.Config.AMQP.Exchanges) > 0 {
		return n.Config.AMQP.Exchanges[0]
	}
	return "notifier.events"
}

// The console's poison queue on every transport: an event the intake
// refused is listed with its reason, shown whole, and discarded, by admins
// only.
func TestAnAdminSeesAPoisonedEventWithItsReasonAndDiscardsIt(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithUserTokens())
			body := `{"from_service": "auth", "event": "user_deleted", "details": {"email": "anna@example.com"}}`

			n.PublishEventWithID(t, body, "amqp-bad-1")

			items := waitForPoisonList(t, n, 1)
			got := items[0]
			require.Equal(t, "eventintake.ConsumeEvents", got.Handler)
			require.Equal(t, intakeTopic(n), got.Topic)
			require.Contains(t, got.Reason, "user_deleted")
			require.Equal(t, body, got.PayloadPreview)
			require.Equal(t, len(body), got.PayloadSize)
			require.Equal(t, "amqp-bad-1", got.MessageID)
			require.Len(t, n.WaitForPoisoned(t, 1), 1, "the log's observer saw it once too")

			whole := n.Do(t, http.MethodGet, "/api/v1/poison/"+got.ID, notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusOK, whole.Status, string(whole.Body))
			require.Equal(t, body, whole.Map(t)["payload_text"])
			require.Equal(t, "eventintake.ConsumeEvents", whole.Map(t)["metadata"].(map[string]any)["handler_poisoned"])

			for _, tc := range []struct {
				name, method, path, token string
				want                      int
			}{
				{"no token", http.MethodGet, "/api/v1/poison", "", http.StatusUnauthorized},
				{"a manager lists", http.MethodGet, "/api/v1/poison", notifiertest.ManagerToken, http.StatusForbidden},
				{"a service shows", http.MethodGet, "/api/v1/poison/" + got.ID, notifiertest.ServiceToken, http.StatusForbidden},
				{"a manager requeues", http.MethodPost, "/api/v1/poison/" + got.ID + "/requeue", notifiertest.ManagerToken, http.StatusForbidden},
				{"a manager discards", http.MethodDelete, "/api/v1/poison/" + got.ID, notifiertest.ManagerToken, http.StatusForbidden},
				{"a user's own token", http.MethodGet, "/api/v1/poison", n.UserToken(t, anna), http.StatusForbidden},
				{"a malformed id", http.MethodGet, "/api/v1/poison/1; DROP TABLE", notifiertest.AdminToken, http.StatusUnprocessableEntity},
				{"a malformed id to requeue", http.MethodPost, "/api/v1/poison/nope/requeue", notifiertest.AdminToken, http.StatusUnprocessableEntity},
				{"an unknown id", http.MethodGet, "/api/v1/poison/00000000-0000-5000-8000-000000000000", notifiertest.AdminToken, http.StatusNotFound},
				{"an unknown id to requeue", http.MethodPost, "/api/v1/poison/00000000-0000-5000-8000-000000000000/requeue", notifiertest.AdminToken, http.StatusNotFound},
			} {
				resp := n.Do(t, tc.method, strings.ReplaceAll(tc.path, " ", "%20"), tc.token, nil)
				require.Equal(t, tc.want, resp.Status, "%s: %s", tc.name, resp.Body)
				require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), tc.name)
			}
			require.Len(t, poisonList(t, n, ""), 1, "refused calls change nothing")

			discard := n.Do(t, http.MethodDelete, "/api/v1/poison/"+got.ID, notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusNoContent, discard.Status, string(discard.Body))
			require.Empty(t, poisonList(t, n, ""))
			again := n.Do(t, http.MethodDelete, "/api/v1/poison/"+got.ID, notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusNotFound, again.Status)
			require.Empty(t, n.Outbox.Messages())
		})
	}
}

// breaker makes one handler refuse every message, for good, while it is
// broken, and counts the messages each handler got.
type breaker struct {
	handler string
	broken  atomic.Bool
	mu      sync.Mutex
	seen    map[string]int // by handler name
}

func newBreaker(handler string) *breaker {
	b := &breaker{handler: handler, seen: map[string]int{}}
	b.broken.Store(true)
	return b
}

func (b *breaker) middleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		name := message.HandlerNameFromCtx(msg.Context())
		b.mu.Lock()
		b.seen[name]++
		b.mu.Unlock()
		if name == b.handler && b.broken.Load() {
			return nil, messaging.Permanent(errors.New("preferences store unreachable"))
		}
		return next(msg)
	}
}

func (b *breaker) count(handler string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[handler]
}

// A handler that refused a message takes it again when an operator
// requeues it after fixing the cause, and the posting it held up finishes:
// on every transport, through the outbox on RabbitMQ.
func TestARequeuedMessageIsHandledOnceTheCauseIsFixed(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			const handler = "preferences.FilterAudienceOnAudienceBatchResolved.transactional"
			b := newBreaker(handler)
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithHandlerMiddleware(b.middleware))

			resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, seed(t, "posting_email_confirmation.json", "<uuid>", anna))
			require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
			postingID := resp.Map(t)["id"].(string)

			got := waitForPoisonList(t, n, 1)[0]
			require.Equal(t, handler, got.Handler)
			require.Equal(t, "events.posting.AudienceBatchResolved.v1.transactional", got.Topic)
			require.Contains(t, got.Reason, "preferences store unreachable")
			require.Equal(t, "dispatching", n.Posting(t, postingID).Status)
			require.Empty(t, n.Outbox.Messages())

			b.broken.Store(false)
			requeued := n.Do(t, http.MethodPost, "/api/v1/poison/"+got.ID+"/requeue", notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusAccepted, requeued.Status, string(requeued.Body))
			require.Equal(t, handler, requeued.Map(t)["handler"])

			p := n.WaitForPosting(t, postingID)
			require.Equal(t, "completed", p.Status)
			require.Equal(t, 1, p.Counters.Sent)
			require.Equal(t, []string{"anna@example.com"}, recipients(n.WaitForMessages(t, 1)))
			require.Equal(t, 2, b.count(handler), "refused once, handled once")
			require.Empty(t, poisonList(t, n, ""), "the entry is gone and nothing was poisoned again")
			again := n.Do(t, http.MethodPost, "/api/v1/poison/"+got.ID+"/requeue", notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusNotFound, again.Status, "a repeat sends nothing")
			require.Len(t, n.Outbox.Messages(), 1)
		})
	}
}

// An event has two handlers (each lane's intake); when one refused it and
// the other handled it, a requeue goes to the one that refused it: the
// welcome posting is still made once, its email sent once.
func TestARequeueGoesOnlyToTheHandlerThatRefusedTheMessage(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			const refuser, other = "eventintake.ConsumeEvents", "eventintake.ConsumeEvents.transactional"
			b := newBreaker(refuser)
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithHandlerMiddleware(b.middleware))

			n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-requeue-1"))
			n.WaitForPostingsFromEvent(t, "evt-requeue-1", 1) // made by the transactional lane's handler
			got := waitForPoisonList(t, n, 1)[0]
			require.Equal(t, refuser, got.Handler)
			require.Equal(t, 1, b.count(other))

			b.broken.Store(false)
			resp := n.Do(t, http.MethodPost, "/api/v1/poison/"+got.ID+"/requeue", notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			require.Eventually(t, func() bool { return b.count(refuser) == 2 }, 20*time.Second, 5*time.Millisecond)

			require.Len(t, n.WaitForPostingsFromEvent(t, "evt-requeue-1", 1), 1, "the same posting key: no second posting")
			require.Len(t, n.WaitForMessages(t, 1), 1)
			require.Equal(t, 1, b.count(other), "the handler that had handled it did not get the copy")
			require.Empty(t, poisonList(t, n, ""))
		})
	}
}

// A poisoned message can hold personal data: it leaves the list once
// amqp.poison_ttl has passed since it was poisoned, and with PostgreSQL the
// janitor deletes it.
func TestAPoisonedMessageLeavesTheListAfterThePoisonTTL(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithClock(fake),
				notifiertest.WithConfig(func(c *config.Config) { c.AMQP.PoisonTTL = time.Hour }))

			n.PublishEvent(t, `{"from_service": "auth", "event": "user_deleted", "details": {"phone": "+79001234567"}}`)
			got := waitForPoisonList(t, n, 1)[0]
			require.Equal(t, "2026-11-27T12:00:00Z", got.PoisonedAt, "poisoned by the Notifier's clock")

			fake.Advance(59 * time.Minute)
			require.Len(t, poisonList(t, n, ""), 1)
			fake.Advance(2 * time.Minute)
			require.Empty(t, poisonList(t, n, ""))
			resp := n.Do(t, http.MethodGet, "/api/v1/poison/"+got.ID, notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusNotFound, resp.Status)
		})
	}
}
