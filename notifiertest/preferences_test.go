package notifiertest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
)

// A user who turns one type off on one channel with a PATCH does not get it
// there and keeps getting the other types, on every transport; the skipped
// delivery names the switch. (That the same type still goes out on another
// channel is the filter's test: the built-in templates have no SMS form of
// a mailing.)
func TestATypeSwitchedOffOnAChannelByPatchIsSkippedThereAndNamesTheSwitch(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport))
			path := "/api/v1/users/" + boris + "/preferences"
			resp := n.Do(t, http.MethodPatch, path, notifiertest.ManagerToken, `{"per_type": {"promo": {"email": false}}}`)
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			require.Equal(t, map[string]any{"promo": map[string]any{"email": false}}, resp.Map(t)["per_type"])

			resp = n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ManagerToken, `{
				"receivers": "http://auth/api/v1/users/?is_active=True&subscribed_series=`+seriesMetod+`",
				"template": "email/new_episode.md",
				"delivery_type": ["email"],
				"notification_type": "promo",
				"template_context": {"series": {"title": "Метод"}}
			}`)
			require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
			var created notifiertest.Posting
			resp.JSON(t, &created)
			p := n.WaitForPosting(t, created.ID)
			require.Equal(t, "completed", p.Status)
			require.Equal(t, 1, p.Counters.Skipped, "Борис's email, by his per-type switch")
			require.Equal(t, []string{"darya@example.com"}, recipients(n.Outbox.ByChannel("email")))

			deliveries := n.Do(t, http.MethodGet, "/api/v1/postings/"+created.ID+"/deliveries?status=skipped", notifiertest.ManagerToken, nil)
			require.Equal(t, http.StatusOK, deliveries.Status, string(deliveries.Body))
			var list struct {
				Items []struct {
					UserID string `json:"user_id"`
					Error  string `json:"error"`
				} `json:"items"`
			}
			deliveries.JSON(t, &list)
			require.Len(t, list.Items, 1)
			require.Equal(t, boris, list.Items[0].UserID)
			require.Equal(t, "opted out: per_type.promo.email", list.Items[0].Error)

			// Another type on the same channel still reaches him.
			resp = n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ManagerToken, `{
				"receivers": "http://auth/api/v1/users/?is_active=True&subscribed_series=`+seriesMetod+`",
				"template": "email/new_episode.md",
				"delivery_type": ["email"],
				"notification_type": "news",
				"template_context": {"series": {"title": "Метод"}}
			}`)
			require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
			resp.JSON(t, &created)
			p = n.WaitForPosting(t, created.ID)
			require.Equal(t, 2, p.Counters.Sent)
			require.Contains(t, recipients(n.Outbox.ByChannel("email")), "boris@example.com")
		})
	}
}
