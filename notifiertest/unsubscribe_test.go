package notifiertest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/notifiertest"
)

// pathOf returns the path and query of an email's unsubscribe link, to
// call on the harness's own address.
func pathOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	require.Equal(t, "/api/v1/unsubscribe", u.Path)
	return u.RequestURI()
}

func emailTo(t *testing.T, msgs []capture.Message, to string) capture.Message {
	t.Helper()
	for _, m := range msgs {
		if m.To == to {
			return m
		}
	}
	t.Fatalf("no email to %s", to)
	return capture.Message{}
}

// A mailing's emails carry their one-click link; a mail client's POST to it
// stops that type on email for that user, on every transport, and the
// next mailing of the type skips them naming the switch. Mandatory emails
// carry no link.
func TestOneClickUnsubscribeFromAMailingStopsTheNextOne(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport))
			n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-unsub-1"))
			n.WaitForPostingsFromEvent(t, "evt-unsub-1", 1)

			annaMail := emailTo(t, n.Outbox.ByChannel("email"), "anna@example.com")
			require.NotEmpty(t, annaMail.ListUnsubscribe)
			if transport != "memory" {
				require.True(t, strings.HasPrefix(annaMail.ListUnsubscribe, "https://notifier.test/api/v1/unsubscribe?token="), annaMail.ListUnsubscribe)
			}
			require.Contains(t, annaMail.HTML, `href="`+strings.ReplaceAll(annaMail.ListUnsubscribe, "&", "&amp;")+`"`, "the footer's link is the header's")
			boris := emailTo(t, n.Outbox.ByChannel("email"), "boris@example.com")
			require.NotEqual(t, annaMail.ListUnsubscribe, boris.ListUnsubscribe, "each recipient has a link of their own")

			page := n.Do(t, http.MethodGet, pathOf(t, annaMail.ListUnsubscribe), "", nil)
			require.Equal(t, http.StatusOK, page.Status, string(page.Body))
			require.Contains(t, string(page.Body), "новые фильмы")

			resp := n.DoWithHeaders(t, http.MethodPost, pathOf(t, annaMail.ListUnsubscribe), "", "List-Unsubscribe=One-Click",
				map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))

			prefs := n.Do(t, http.MethodGet, "/api/v1/users/"+anna+"/preferences", notifiertest.ManagerToken, nil)
			require.Equal(t, http.StatusOK, prefs.Status)
			require.Equal(t, map[string]any{"new_movies": map[string]any{"email": false}}, prefs.Map(t)["per_type"])

			n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-unsub-2"))
			p := n.WaitForPostingsFromEvent(t, "evt-unsub-2", 1)[0]
			require.Equal(t, 1, p.Counters.Skipped, "Анна")
			require.Equal(t, 2, p.Counters.Sent, "Борис and Вера")
			deliveries := n.Do(t, http.MethodGet, "/api/v1/postings/"+p.ID+"/deliveries?status=skipped", notifiertest.ManagerToken, nil)
			require.Contains(t, string(deliveries.Body), "opted out: per_type.new_movies.email")

			// A mandatory email carries no link.
			code := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, seed(t, "posting_email_confirmation.json", "<uuid>", anna))
			require.Equal(t, http.StatusCreated, code.Status, string(code.Body))
			n.WaitForPosting(t, code.Map(t)["id"].(string))
			found := false
			for _, m := range n.Outbox.ByChannel("email") {
				if m.Template == "email/email_confirmation.md" {
					found = true
					require.Empty(t, m.ListUnsubscribe)
					require.NotContains(t, m.HTML, "/api/v1/unsubscribe")
				}
			}
			require.True(t, found, "the confirmation email went out")
		})
	}
}
