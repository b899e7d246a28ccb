package notifiertest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
)

// A mailing published late in the evening waits for each recipient's
// morning in their own zone (Вера in Novosibirsk wakes four hours before
// Анна and Борис in Moscow), while a phone code goes out at once; on every
// transport.
func TestAMailingInQuietHoursGoesOutAtEachRecipientsMorning(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			fake := clock.NewFake(time.Date(2026, 12, 6, 19, 30, 0, 0, time.UTC)) // 22:30 Moscow, 02:30 Novosibirsk
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithClock(fake),
				notifiertest.WithConfig(func(c *config.Config) {
					c.Preferences.QuietHours = config.QuietHours{Start: "22:00", End: "08:00"}
					c.Preferences.DefaultTimezone = "Europe/Moscow"
					c.Delivery.DeferredPollInterval = 10 * time.Millisecond
				}))
			n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-quiet-1"))
			mailing := waitForPostingFromEvent(t, n, "evt-quiet-1")

			code := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, seed(t, "posting_phone_confirmation.json", "<uuid>", anna))
			require.Equal(t, http.StatusCreated, code.Status, string(code.Body))
			require.Equal(t, "completed", n.WaitForPosting(t, code.Map(t)["id"].(string)).Status, "a code ignores quiet hours")
			time.Sleep(200 * time.Millisecond) // twenty polls of the deferred batches
			require.Empty(t, n.Outbox.ByChannel("email"), "nothing of the mailing in the night")
			require.Equal(t, "dispatching", n.Posting(t, mailing).Status)

			fake.Set(time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)) // 08:00 in Novosibirsk, 04:00 in Moscow
			require.Eventually(t, func() bool { return len(n.Outbox.ByChannel("email")) == 1 }, 10*time.Second, 10*time.Millisecond)
			require.Equal(t, []string{"vera@example.com"}, recipients(n.Outbox.ByChannel("email")))

			fake.Set(time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)) // 08:00 in Moscow
			p := n.WaitForPosting(t, mailing)
			require.Equal(t, "completed", p.Status)
			require.Equal(t, 3, p.Counters.Sent)
			require.ElementsMatch(t, []string{"vera@example.com", "anna@example.com", "boris@example.com"}, recipients(n.Outbox.ByChannel("email")))
		})
	}
}

// waitForPostingFromEvent returns the id of the one posting made from the
// event, once it exists, whatever its status.
func waitForPostingFromEvent(t *testing.T, n *notifiertest.Notifier, key string) string {
	t.Helper()
	var id string
	require.Eventually(t, func() bool {
		ps := n.PostingsFromEvent(t, key)
		if len(ps) == 1 && ps[0].Counters.Recipients == 3 {
			id = ps[0].ID
			return true
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	return id
}
