package notifiertest_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
)

type userDeliveries struct {
	Items []struct {
		PostingID string `json:"posting_id"`
		Channel   string `json:"channel"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		SentAt    string `json:"sent_at"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// The console's user page: what a user was sent, across postings, newest
// first, for managers only.
func TestAManagerSeesAUsersDeliveriesAcrossPostingsNewestFirst(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithUserTokens())
			email := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, seed(t, "posting_email_confirmation.json", "<uuid>", anna))
			require.Equal(t, http.StatusCreated, email.Status, string(email.Body))
			emailID := email.Map(t)["id"].(string)
			n.WaitForPosting(t, emailID)
			code := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, seed(t, "posting_phone_confirmation.json", "<uuid>", anna))
			require.Equal(t, http.StatusCreated, code.Status, string(code.Body))
			codeID := code.Map(t)["id"].(string)
			n.WaitForPosting(t, codeID)
			path := "/api/v1/users/" + anna + "/deliveries"

			resp := n.Do(t, http.MethodGet, path+"?limit=1", notifiertest.ManagerToken, nil)
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			require.NotContains(t, string(resp.Body), "@example.com", "never an address")
			var first userDeliveries
			resp.JSON(t, &first)
			require.Len(t, first.Items, 1)
			require.Equal(t, codeID, first.Items[0].PostingID, "the newest first")
			require.Equal(t, "sms", first.Items[0].Channel)
			require.Equal(t, "sent", first.Items[0].Status)
			require.NotEmpty(t, first.Items[0].SentAt)
			require.NotEmpty(t, first.NextCursor)

			resp = n.Do(t, http.MethodGet, path+"?limit=1&cursor="+url.QueryEscape(first.NextCursor), notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			var second userDeliveries
			resp.JSON(t, &second)
			require.Len(t, second.Items, 1)
			require.Equal(t, emailID, second.Items[0].PostingID)
			require.Equal(t, "email", second.Items[0].Channel)
			require.Empty(t, second.NextCursor)

			resp = n.Do(t, http.MethodGet, path+"?channel=email&status=sent", notifiertest.ManagerToken, nil)
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			var emails userDeliveries
			resp.JSON(t, &emails)
			require.Len(t, emails.Items, 1)
			require.Equal(t, emailID, emails.Items[0].PostingID)

			for _, tc := range []struct {
				name, path, token string
				want              int
			}{
				{"no token", path, "", http.StatusUnauthorized},
				{"a service", path, notifiertest.ServiceToken, http.StatusForbidden},
				{"the user's own token", path, n.UserToken(t, anna), http.StatusForbidden},
				{"a malformed user id", "/api/v1/users/anna%40example.com/deliveries", notifiertest.ManagerToken, http.StatusUnprocessableEntity},
				{"a bad cursor", path + "?cursor=nope", notifiertest.ManagerToken, http.StatusUnprocessableEntity},
				{"a bad status", path + "?status=delivered", notifiertest.ManagerToken, http.StatusUnprocessableEntity},
			} {
				resp := n.Do(t, http.MethodGet, tc.path, tc.token, nil)
				require.Equal(t, tc.want, resp.Status, "%s: %s", tc.name, resp.Body)
				require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), tc.name)
			}
		})
	}
}
