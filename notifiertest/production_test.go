package notifiertest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/demodirectory"
)

// The brief's flows again, on the production transports: RabbitMQ with the
// PostgreSQL outbox, and PostgreSQL alone.
func TestFlowsOnProductionTransports(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			t.Run("welcome email from the exchange, once", func(t *testing.T) {
				t.Parallel()
				n := notifiertest.Start(t, notifiertest.WithTransport(transport))
				body := withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-prod-signup")

				n.PublishEvent(t, body)
				n.PublishEvent(t, body)

				p := n.WaitForPostingsFromEvent(t, "evt-prod-signup", 1)
				require.Len(t, p, 1)
				require.Equal(t, "completed", p[0].Status)
				require.Equal(t, []string{"anna@example.com"}, recipients(n.Outbox.ByChannel("email")))
			})
			t.Run("phone code over HTTP, idempotent", func(t *testing.T) {
				t.Parallel()
				n := notifiertest.Start(t, notifiertest.WithTransport(transport))
				body := seed(t, "posting_phone_confirmation.json", "<uuid>", anna)

				first := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body)
				second := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body)

				require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
				require.Equal(t, http.StatusOK, second.Status, string(second.Body))
				p := n.WaitForPosting(t, first.Map(t)["id"].(string))
				require.Equal(t, "completed", p.Status)
				require.Len(t, n.Outbox.ByChannel("sms"), 1)
			})
			t.Run("mailing of 1,234 walks the directory page by page", func(t *testing.T) {
				t.Parallel()
				n := notifiertest.Start(t, notifiertest.WithTransport(transport),
					notifiertest.WithUsers(demodirectory.GenerateUsers(1234)...))

				n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-prod-big"))

				p := n.WaitForPostingsFromEvent(t, "evt-prod-big", 1)[0]
				require.Equal(t, "completed", p.Status)
				require.Equal(t, 1234, p.Counters.Recipients)
				require.Equal(t, 1234, p.Counters.Sent)
				seen := map[string]int{}
				for _, m := range n.Outbox.ByChannel("email") {
					seen[m.To]++
				}
				require.Len(t, seen, 1234)
				for to, c := range seen {
					require.Equal(t, 1, c, to)
				}
			})
			t.Run("bad events are poisoned with a reason", func(t *testing.T) {
				t.Parallel()
				n := notifiertest.Start(t, notifiertest.WithTransport(transport))

				n.PublishEvent(t, `{"from_service": "auth", "event": "user_signed_up", "details": `)
				n.PublishEvent(t, `{"from_service": "auth", "event": "user_deleted", "details": {}}`)

				poisoned := n.WaitForPoisoned(t, 2)
				require.Contains(t, poisoned[0].Reason+poisoned[1].Reason, "user_deleted")
				ready := n.Do(t, http.MethodGet, "/readyz", "", nil)
				require.Equal(t, http.StatusOK, ready.Status, string(ready.Body))
			})
		})
	}
}
