package notifiertest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
)

// Anna's phone in the demo directory.
const annaPhone = "+79001234501"

// refusingGateway is an SMS gateway that answers 422 {"code":
// "invalid_number"} for the numbers it calls invalid and accepts the rest.
type refusingGateway struct {
	*httptest.Server
	mu       sync.Mutex
	invalid  map[string]bool
	requests map[string]int
}

func newRefusingGateway(t *testing.T, invalid ...string) *refusingGateway {
	t.Helper()
	g := &refusingGateway{invalid: map[string]bool{}, requests: map[string]int{}}
	for _, n := range invalid {
		g.invalid[n] = true
	}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			To string `json:"to"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		g.mu.Lock()
		g.requests[req.To]++
		refuse := g.invalid[req.To]
		g.mu.Unlock()
		if refuse {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"code":"invalid_number","message":"no such subscriber"}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *refusingGateway) sent(to string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[to]
}

func (g *refusingGateway) accept(to string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.invalid, to)
}

// suppressionList is the answer of GET /api/v1/suppressions.
type suppressionList struct {
	Items []struct {
		Address string `json:"address"`
		Channel string `json:"channel"`
		Reason  string `json:"reason"`
		Source  string `json:"source"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func listSuppressions(t *testing.T, n *notifiertest.Notifier, query string) suppressionList {
	t.Helper()
	resp := n.Do(t, http.MethodGet, "/api/v1/suppressions?"+query, notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var l suppressionList
	resp.JSON(t, &l)
	return l
}

// postAndWait creates a posting and waits until it is final.
func postAndWait(t *testing.T, n *notifiertest.Notifier, body string) notifiertest.Posting {
	t.Helper()
	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body)
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	return n.WaitForPosting(t, resp.Map(t)["id"].(string))
}

// deliveryErrors returns the status and error of each delivery of a posting
// by user, as "status: error".
func deliveryErrors(t *testing.T, n *notifiertest.Notifier, postingID string) map[string]string {
	t.Helper()
	resp := n.Do(t, http.MethodGet, "/api/v1/postings/"+postingID+"/deliveries", notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var page struct {
		Items []struct {
			UserID string `json:"user_id"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"items"`
	}
	resp.JSON(t, &page)
	out := map[string]string{}
	for _, d := range page.Items {
		out[d.UserID] = d.Status + ": " + d.Error
	}
	return out
}

func phoneCode(t *testing.T, code string) string {
	t.Helper()
	return strings.Replace(seed(t, "posting_phone_confirmation.json", "<uuid>", anna), `"1234"`, `"`+code+`"`, 1)
}

// A number the SMS gateway calls invalid and a mailbox the mail server
// refuses go on the suppression list; every later posting skips them,
// mandatory codes and mailings alike, until a manager takes them off.
func TestARefusedAddressIsSkippedByEveryLaterPostingUntilTakenOffTheList(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{config.TransportMemory, config.TransportSQL, config.TransportAMQP} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			gateway := newRefusingGateway(t, annaPhone)
			n := notifiertest.Start(t, notifiertest.WithTransport(transport),
				notifiertest.WithConfig(func(c *config.Config) { c.SMS.URL = gateway.URL }))

			// The gateway refuses Anna's number: the code fails, the number
			// is suppressed.
			first := postAndWait(t, n, phoneCode(t, "1111"))
			require.Equal(t, 1, first.Counters.Failed, "%+v", first)
			require.Equal(t, "failed: sms gateway: status 422: invalid_number", deliveryErrors(t, n, first.ID)[anna])
			list := listSuppressions(t, n, "address="+url.QueryEscape(annaPhone))
			require.Len(t, list.Items, 1)
			require.Equal(t, annaPhone, list.Items[0].Address)
			require.Equal(t, "sms", list.Items[0].Channel)
			require.Equal(t, "delivery", list.Items[0].Source)
			require.Equal(t, "sms gateway: status 422: invalid_number", list.Items[0].Reason)

			// The next code is mandatory and still not sent.
			second := postAndWait(t, n, phoneCode(t, "2222"))
			require.Equal(t, "completed", second.Status)
			require.Equal(t, 1, second.Counters.Skipped, "%+v", second)
			require.Equal(t, "skipped: suppressed", deliveryErrors(t, n, second.ID)[anna])
			require.Equal(t, 1, gateway.sent(annaPhone), "nothing more reached the gateway")

			// The mail server refuses Anna's mailbox for an email
			// confirmation; the next mailing skips her and reaches the rest.
			n.Outbox.FailNext(1, capture.ErrRecipientRefused)
			confirmation := postAndWait(t, n, seed(t, "posting_email_confirmation.json", "<uuid>", anna))
			require.Equal(t, 1, confirmation.Counters.Failed, "%+v", confirmation)
			mailing := postAndWait(t, n, seed(t, "posting_new_movies.json"))
			require.Equal(t, "completed", mailing.Status)
			require.Equal(t, 1, mailing.Counters.Skipped, "%+v", mailing)
			require.Equal(t, "skipped: suppressed", deliveryErrors(t, n, mailing.ID)[anna])
			require.NotContains(t, recipients(n.Outbox.ByChannel("email")), "anna@example.com")
			require.Len(t, n.Outbox.ByChannel("email"), mailing.Counters.Sent)

			v := n.Metrics(t)
			require.Equal(t, 1.0, v[series("notifier_suppressions_added_total", "channel", "sms", "source", "delivery")])
			require.Equal(t, 1.0, v[series("notifier_suppressions_added_total", "channel", "email", "source", "delivery")])
			require.Equal(t, 1.0, v[series("notifier_deliveries_suppressed_total", "channel", "sms", "lane", "transactional")])
			require.Equal(t, 1.0, v[series("notifier_deliveries_suppressed_total", "channel", "email", "lane", "bulk")])

			// A manager takes the number off the list (the subscriber got
			// it back): the next code goes out.
			resp := n.Do(t, http.MethodDelete, "/api/v1/suppressions/"+url.PathEscape(annaPhone), notifiertest.ManagerToken, nil)
			require.Equal(t, http.StatusNoContent, resp.Status, string(resp.Body))
			gateway.accept(annaPhone)
			third := postAndWait(t, n, phoneCode(t, "3333"))
			require.Equal(t, 1, third.Counters.Sent, "%+v", third)
			require.Equal(t, 2, gateway.sent(annaPhone))
			require.Len(t, listSuppressions(t, n, "channel=sms").Items, 0)
			require.Len(t, listSuppressions(t, n, "channel=email").Items, 1)
		})
	}
}

// A provider's bounce feed posts an address with a service token; the
// deliveries to it stop at once.
func TestABouncePostedByAServiceStopsDeliveriesToTheAddress(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	resp := n.Do(t, http.MethodPost, "/api/v1/suppressions", notifiertest.ServiceToken,
		`{"address": "Anna@Example.com", "reason": "bounce"}`)
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	require.Equal(t, "anna@example.com", resp.Map(t)["address"])
	resp = n.Do(t, http.MethodPost, "/api/v1/suppressions", notifiertest.ServiceToken,
		`{"address": "anna@example.com", "channel": "email", "reason": "complaint"}`)
	require.Equal(t, http.StatusOK, resp.Status, "a repeat is 200: %s", resp.Body)
	require.Equal(t, "bounce", resp.Map(t)["reason"], "the first reason stands")

	p := postAndWait(t, n, seed(t, "posting_email_confirmation.json", "<uuid>", anna))
	require.Equal(t, 1, p.Counters.Skipped, "%+v", p)
	require.Empty(t, n.Outbox.Messages())
	require.Equal(t, 1.0, n.Metrics(t)[series("notifier_suppressions_added_total", "channel", "email", "source", "api")])
}

func TestTheSuppressionListNeedsTheRightRoleAndGoodInput(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := `{"address": "anna@example.com", "reason": "bounce"}`
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"post without a token", http.MethodPost, "/api/v1/suppressions", "", body, http.StatusUnauthorized},
		{"post with a wrong token", http.MethodPost, "/api/v1/suppressions", "not-a-real-token", body, http.StatusUnauthorized},
		{"list without a token", http.MethodGet, "/api/v1/suppressions", "", nil, http.StatusUnauthorized},
		{"list as a service", http.MethodGet, "/api/v1/suppressions", notifiertest.ServiceToken, nil, http.StatusForbidden},
		{"delete as a service", http.MethodDelete, "/api/v1/suppressions/anna%40example.com", notifiertest.ServiceToken, nil, http.StatusForbidden},
		{"delete without a token", http.MethodDelete, "/api/v1/suppressions/anna%40example.com", "", nil, http.StatusUnauthorized},
		{"post as a service", http.MethodPost, "/api/v1/suppressions", notifiertest.ServiceToken, body, http.StatusCreated},
		{"list as a manager", http.MethodGet, "/api/v1/suppressions", notifiertest.ManagerToken, nil, http.StatusOK},
		{"list as an admin", http.MethodGet, "/api/v1/suppressions", notifiertest.AdminToken, nil, http.StatusOK},
		{"delete as a manager", http.MethodDelete, "/api/v1/suppressions/anna%40example.com", notifiertest.ManagerToken, nil, http.StatusNoContent},
		{"delete what is gone", http.MethodDelete, "/api/v1/suppressions/anna%40example.com", notifiertest.ManagerToken, nil, http.StatusNotFound},
	} {
		resp := n.Do(t, c.method, c.path, c.token, c.body)
		require.Equal(t, c.want, resp.Status, "%s: %s", c.name, resp.Body)
	}

	for _, c := range []struct {
		name, method, path, body, location string
	}{
		{"missing address", http.MethodPost, "/api/v1/suppressions", `{"reason": "bounce"}`, "body.address"},
		{"missing reason", http.MethodPost, "/api/v1/suppressions", `{"address": "anna@example.com"}`, "body.reason"},
		{"malformed address", http.MethodPost, "/api/v1/suppressions", `{"address": "anna@@example", "reason": "bounce"}`, "body.address"},
		{"unknown channel", http.MethodPost, "/api/v1/suppressions", `{"address": "anna@example.com", "channel": "fax", "reason": "bounce"}`, "body.channel"},
		{"oversized reason", http.MethodPost, "/api/v1/suppressions", `{"address": "anna@example.com", "reason": "` + strings.Repeat("x", 501) + `"}`, "body.reason"},
		{"unknown field", http.MethodPost, "/api/v1/suppressions", `{"address": "anna@example.com", "reason": "bounce", "until": "never"}`, "body.until"},
		{"bad cursor", http.MethodGet, "/api/v1/suppressions?cursor=bogus", "", "query.cursor"},
		{"bad limit", http.MethodGet, "/api/v1/suppressions?limit=0", "", "query.limit"},
		{"bad address filter", http.MethodGet, "/api/v1/suppressions?address=nobody", "", "query.address"},
		{"bad address to delete", http.MethodDelete, "/api/v1/suppressions/nobody", "", "path.address"},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		resp := n.Do(t, c.method, c.path, notifiertest.ManagerToken, body)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Status, "%s: %s", c.name, resp.Body)
		require.Contains(t, resp.Header.Get("Content-Type"), "application/problem+json", c.name)
		require.Contains(t, string(resp.Body), `"location":"`+c.location+`"`, "%s: %s", c.name, resp.Body)
	}
}
