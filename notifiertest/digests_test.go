package notifiertest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/metrics"
)

// reactionsEvent is a reactions_summary event about Борис's review.
func reactionsEvent(id, kind string, total int) string {
	return fmt.Sprintf(`{"event_id": %q, "from_service": "activity_api", "event": "reactions_summary",
		"details": {"stats": [{"type": %q, "total": %d, "target": "https://activity_api/api/v1/reviews/%s"}]}}`,
		id, kind, total, review)
}

// reactionsDigest makes reactions an hourly digest grouped by kind.
func reactionsDigest(c *config.Config) {
	c.Delivery.Digests = map[string]config.Digest{"reactions": {Window: time.Hour, GroupBy: "reaction_type"}}
	c.Delivery.DeferredPollInterval = 10 * time.Millisecond
}

type heldDigests struct {
	Items []struct {
		ID      string    `json:"id"`
		Type    string    `json:"notification_type"`
		Channel string    `json:"channel"`
		Held    int       `json:"held"`
		DueAt   time.Time `json:"due_at"`
	} `json:"items"`
}

// waitHeld waits until the user's open digests hold n deliveries in all.
func waitHeld(t *testing.T, n *notifiertest.Notifier, user string, want int) heldDigests {
	t.Helper()
	var got heldDigests
	require.Eventually(t, func() bool {
		resp := n.Do(t, http.MethodGet, "/api/v1/users/"+user+"/digests", notifiertest.ManagerToken, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		got = heldDigests{}
		resp.JSON(t, &got)
		held := 0
		for _, d := range got.Items {
			held += d.Held
		}
		return held == want
	}, 10*time.Second, 10*time.Millisecond)
	return got
}

// Three reactions to Борис's review within the hour go to him as one
// email listing them; each posting ends sent with that email; a
// redelivered event adds nothing; on every transport.
func TestReactionsWithinTheWindowGoAsOneDigest(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			fake := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithClock(fake),
				notifiertest.WithUserTokens(), notifiertest.WithConfig(reactionsDigest))
			for i, r := range []struct {
				kind  string
				total int
			}{{"like", 5}, {"like", 7}, {"dislike", 3}} {
				n.PublishEvent(t, reactionsEvent(fmt.Sprintf("evt-digest-%d", i), r.kind, r.total))
			}
			held := waitHeld(t, n, boris, 3)
			require.Len(t, held.Items, 1)
			assert.Equal(t, "reactions", held.Items[0].Type)
			assert.Equal(t, "email", held.Items[0].Channel)
			assert.True(t, held.Items[0].DueAt.Equal(fake.Now().Add(time.Hour)), "due an hour after the first: %s", held.Items[0].DueAt)

			// Борис may look at his own; Анна may not.
			own := n.Do(t, http.MethodGet, "/api/v1/users/"+boris+"/digests", n.UserToken(t, boris), nil)
			require.Equal(t, http.StatusOK, own.Status, string(own.Body))
			other := n.Do(t, http.MethodGet, "/api/v1/users/"+boris+"/digests", n.UserToken(t, anna), nil)
			require.Equal(t, http.StatusForbidden, other.Status, string(other.Body))

			time.Sleep(100 * time.Millisecond) // ten polls
			require.Empty(t, n.Outbox.ByChannel("email"), "held for the hour")
			postings := n.PostingsFromEvent(t, "evt-digest-0")
			require.Len(t, postings, 1)
			require.Equal(t, "dispatching", postings[0].Status, "its delivery is pending while held")

			n.PublishEvent(t, reactionsEvent("evt-digest-1", "like", 7)) // redelivered
			fake.Advance(time.Hour)
			msgs := n.WaitForMessages(t, 1)
			require.Len(t, msgs, 1)
			m := msgs[0]
			assert.Equal(t, "boris@example.com", m.To)
			assert.Equal(t, "Новые реакции на ваши рецензии: 15", m.Subject)
			assert.Contains(t, m.Text, "отметок «Нравится» — **12**, отметок «Не нравится» — **3**")
			assert.Contains(t, m.HTML, "https://activity_api/api/v1/reviews/"+review)
			assert.NotEmpty(t, m.ListUnsubscribe, "reactions are not mandatory: one click turns them off")
			for i := range 3 {
				ps := n.WaitForPostingsFromEvent(t, fmt.Sprintf("evt-digest-%d", i), 1)
				p := n.WaitForPosting(t, ps[0].ID)
				assert.Equal(t, "completed", p.Status)
				assert.Equal(t, 1, p.Counters.Sent)
			}
			waitHeld(t, n, boris, 0)
			time.Sleep(100 * time.Millisecond)
			assert.Len(t, n.Outbox.ByChannel("email"), 1, "one email for the three, once")
			v := n.Metrics(t)
			assert.Equal(t, 3.0, v[metrics.Series("notifier_digest_held_total", "channel", "email", "type", "reactions")])
			assert.Equal(t, 1.0, v[metrics.Series("notifier_digests_total", "channel", "email", "result", "sent", "type", "reactions")])
			assert.Equal(t, 3.0, v[metrics.Series("notifier_deliveries_total", "channel", "email", "lane", "bulk", "result", "sent")],
				"each held delivery counts once as sent; the digest's own message is not a delivery of a posting")
		})
	}
}

// Held reactions survive a restart: the first instance holds them in
// PostgreSQL and stops; the second, on the same database and broker, sends
// the digest when it is due.
func TestHeldReactionsSurviveARestart(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			fake := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
			first := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithClock(fake),
				notifiertest.WithConfig(reactionsDigest))
			first.PublishEvent(t, reactionsEvent("evt-restart-1", "like", 4))
			first.PublishEvent(t, reactionsEvent("evt-restart-2", "like", 6))
			waitHeld(t, first, boris, 2)
			first.Stop(t)
			require.Empty(t, first.Outbox.ByChannel("email"))

			same := first.Config
			second := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithClock(fake),
				notifiertest.WithConfig(func(c *config.Config) {
					reactionsDigest(c)
					c.Database.URL = same.Database.URL
					c.AMQP.Prefix, c.AMQP.Exchanges = same.AMQP.Prefix, same.AMQP.Exchanges
				}))
			waitHeld(t, second, boris, 2)
			second.PublishEvent(t, reactionsEvent("evt-restart-2", "like", 6)) // redelivered after the restart
			fake.Advance(time.Hour)
			msgs := second.WaitForMessages(t, 1)
			require.Len(t, msgs, 1)
			assert.Equal(t, "Новые реакции на ваши рецензии: 10", msgs[0].Subject)
			for _, ev := range []string{"evt-restart-1", "evt-restart-2"} {
				ps := second.WaitForPostingsFromEvent(t, ev, 1)
				assert.Equal(t, 1, second.WaitForPosting(t, ps[0].ID).Counters.Sent)
			}
			time.Sleep(100 * time.Millisecond)
			assert.Len(t, second.Outbox.ByChannel("email"), 1)
		})
	}
}
