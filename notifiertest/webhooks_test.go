package notifiertest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/metrics"
)

// hookCall is one call a webhook receiver got.
type hookCall struct {
	Header http.Header
	Body   []byte
}

// hookReceiver is a webhook endpoint on a loopback port that answers 204
// to every call, unless hold is set: then it reads the call and holds it
// until the test ends.
type hookReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []hookCall
}

func newHookReceiver(t *testing.T, hold bool) *hookReceiver {
	t.Helper()
	r := &hookReceiver{}
	release := make(chan struct{})
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, hookCall{Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		if hold {
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() { close(release) }) // first: the server's Close waits for the calls it holds
	return r
}

func (r *hookReceiver) got() []hookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookCall(nil), r.calls...)
}

// ofType returns the calls of an event type, decoded.
func (r *hookReceiver) ofType(t *testing.T, eventType string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range r.got() {
		var p map[string]any
		require.NoError(t, json.Unmarshal(c.Body, &p))
		if p["type"] == eventType {
			out = append(out, p)
		}
	}
	return out
}

// withWebhooksToLoopback lets endpoints on this machine be registered
// (webhooks.allowed_hosts: 127.0.0.1) and makes the dispatcher quick.
func withWebhooksToLoopback() notifiertest.Option {
	return notifiertest.WithConfig(func(c *config.Config) {
		c.Webhooks.AllowedHosts = []string{"127.0.0.1"}
		c.Webhooks.PollInterval = 10 * time.Millisecond
	})
}

// registerHook registers url for events as the admin and returns the
// endpoint's id and secret.
func registerHook(t *testing.T, n *notifiertest.Notifier, url string, events ...string) (id, secret string) {
	t.Helper()
	resp := n.Do(t, http.MethodPost, "/api/v1/webhooks", notifiertest.AdminToken, map[string]any{"url": url, "events": events})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	m := resp.Map(t)
	return m["id"].(string), m["secret"].(string)
}

func TestWebhooksReportADeliveryAndItsPostingSigned(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), withWebhooksToLoopback())
			r := newHookReceiver(t, false)
			id, secret := registerHook(t, n, r.srv.URL+"/hooks?token=abc", "delivery.sent", "posting.completed")

			n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-hook-"+transport))
			p := n.WaitForPostingsFromEvent(t, "evt-hook-"+transport, 1)[0]

			require.Eventually(t, func() bool { return len(r.got()) == 2 }, 20*time.Second, 10*time.Millisecond)
			wh, err := standardwebhooks.NewWebhook(secret)
			require.NoError(t, err)
			for _, c := range r.got() {
				require.NoError(t, wh.Verify(c.Body, c.Header), "signed per Standard Webhooks")
				require.NotContains(t, string(c.Body), "anna@example.com", "never the address")
			}
			sent := r.ofType(t, "delivery.sent")
			require.Len(t, sent, 1)
			require.Equal(t, map[string]any{"posting_id": p.ID, "user_id": anna, "channel": "email", "status": "sent"},
				without(sent[0]["data"].(map[string]any), "at"))
			done := r.ofType(t, "posting.completed")
			require.Len(t, done, 1)
			data := done[0]["data"].(map[string]any)
			require.Equal(t, p.ID, data["posting_id"])
			require.Equal(t, "completed", data["status"])
			require.Equal(t, "welcome", data["notification_type"])
			require.Equal(t, 1.0, data["counters"].(map[string]any)["sent"])

			require.Eventually(t, func() bool {
				resp := n.Do(t, http.MethodGet, "/api/v1/webhooks/"+id+"/attempts", notifiertest.AdminToken, nil)
				return len(resp.Map(t)["items"].([]any)) == 2
			}, 10*time.Second, 10*time.Millisecond, "both calls are in the endpoint's history")
			hook := n.Do(t, http.MethodGet, "/api/v1/webhooks/"+id, notifiertest.AdminToken, nil).Map(t)
			require.Equal(t, 0.0, hook["pending_messages"])
			require.Equal(t, true, hook["enabled"])
			v := n.Metrics(t)
			require.Equal(t, 2.0, v[metrics.Series("notifier_webhook_attempts_total", "result", "success")])
			require.Equal(t, 0.0, v[metrics.Series("notifier_webhook_attempts_total", "result", "failure")])
			require.Equal(t, 1.0, v[metrics.Series("notifier_webhook_endpoints", "state", "enabled")])
			require.True(t, v.Has(metrics.Series("notifier_webhook_messages_pending")))
		})
	}
}

func without(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func TestASlowWebhookEndpointDoesNotSlowAMailing(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), withWebhooksToLoopback(),
				notifiertest.WithUsers(demodirectory.GenerateUsers(1234)...),
				notifiertest.WithConfig(func(c *config.Config) { c.Webhooks.Timeout = time.Minute }))
			hung := newHookReceiver(t, true) // takes every call and never answers
			id, _ := registerHook(t, n, hung.srv.URL, "delivery.sent", "posting.completed")
			// A sign-up first: its webhook call is under way, and hangs.
			n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", demodirectory.GenerateUsers(1)[0].ID),
				"evt-hook-signup-"+transport))
			require.Eventually(t, func() bool { return len(hung.got()) > 0 }, 20*time.Second, 5*time.Millisecond)

			n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-hook-slow-"+transport))

			p := n.WaitForPostingsFromEvent(t, "evt-hook-slow-"+transport, 1)[0]
			require.Equal(t, "completed", p.Status)
			require.Equal(t, 1234, p.Counters.Sent, "every delivery went out while the endpoint hung")
			require.Len(t, n.Outbox.ByChannel("email"), 1234+1)
			require.LessOrEqual(t, len(hung.got()), n.Config.Webhooks.EndpointConcurrency, "it holds no more than its places")
			require.Eventually(t, func() bool {
				hook := n.Do(t, http.MethodGet, "/api/v1/webhooks/"+id, notifiertest.AdminToken, nil).Map(t)
				return hook["pending_messages"] == float64(2+1234+1)
			}, 10*time.Second, 10*time.Millisecond, "every event waits for it, none lost")
		})
	}
}

func TestTheWebhookAPIIsForAdminsAndNamesBadFields(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	id, _ := registerHook(t, n, "https://crm.example.com/hooks", "delivery.failed")
	routes := []struct{ method, path string }{
		{http.MethodPost, "/api/v1/webhooks"},
		{http.MethodGet, "/api/v1/webhooks"},
		{http.MethodGet, "/api/v1/webhooks/" + id},
		{http.MethodPatch, "/api/v1/webhooks/" + id},
		{http.MethodDelete, "/api/v1/webhooks/" + id},
		{http.MethodPost, "/api/v1/webhooks/" + id + "/rotate"},
		{http.MethodPost, "/api/v1/webhooks/" + id + "/enable"},
		{http.MethodGet, "/api/v1/webhooks/" + id + "/attempts"},
	}
	body := map[string]any{"url": "https://crm.example.com/hooks", "events": []string{"delivery.sent"}}
	for _, r := range routes {
		require.Equal(t, http.StatusUnauthorized, n.Do(t, r.method, r.path, "", body).Status, "%s %s without a token", r.method, r.path)
		for _, token := range []string{notifiertest.ServiceToken, notifiertest.ManagerToken} {
			require.Equal(t, http.StatusForbidden, n.Do(t, r.method, r.path, token, body).Status, "%s %s as %s", r.method, r.path, token)
		}
	}

	bad := []struct {
		body     string
		location string
	}{
		{`{"events": ["delivery.sent"]}`, "body.url"},
		{`{"url": "http://127.0.0.1:8080/", "events": ["delivery.sent"]}`, "body.url"},
		{`{"url": "https://crm.example.com/hooks", "events": []}`, "body.events"},
		{`{"url": "https://crm.example.com/hooks", "events": ["delivery.opened"]}`, "body.events[0]"},
		{`{"url": "https://crm.example.com/hooks"}`, "body.events"},
	}
	for _, b := range bad {
		resp := n.Do(t, http.MethodPost, "/api/v1/webhooks", notifiertest.AdminToken, b.body)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Status, b.body)
		require.True(t, strings.Contains(string(resp.Body), `"location":"`+b.location+`"`), "%s: %s", b.body, resp.Body)
	}
	badPatches := []struct {
		body     string
		status   int
		location string
	}{
		{`{"url": "http://127.0.0.1:8080/"}`, http.StatusUnprocessableEntity, "body.url"},
		{`{"events": ["delivery.opened"]}`, http.StatusUnprocessableEntity, "body.events[0]"},
		{`{"enabled": false}`, http.StatusUnprocessableEntity, "body.enabled"},
		{`{"url": "https://crm.exa`, http.StatusBadRequest, ""},
	}
	for _, b := range badPatches {
		resp := n.DoWithHeaders(t, http.MethodPatch, "/api/v1/webhooks/"+id, notifiertest.AdminToken, b.body,
			map[string]string{"Content-Type": "application/merge-patch+json"})
		require.Equal(t, b.status, resp.Status, b.body)
		require.Contains(t, resp.Header.Get("Content-Type"), "problem+json")
		if b.location != "" {
			require.True(t, strings.Contains(string(resp.Body), `"location":"`+b.location+`"`), "%s: %s", b.body, resp.Body)
		}
	}
	require.Equal(t, http.StatusNoContent, n.Do(t, http.MethodDelete, "/api/v1/webhooks/"+id, notifiertest.AdminToken, nil).Status)
	require.Equal(t, http.StatusNotFound, n.Do(t, http.MethodDelete, "/api/v1/webhooks/"+id, notifiertest.AdminToken, nil).Status)
	require.Equal(t, http.StatusNotFound, n.Do(t, http.MethodPatch, "/api/v1/webhooks/"+id, notifiertest.AdminToken, `{}`).Status)
}

func TestAPatchedWebhookEndpointGetsTheNextCallsAtItsNewURLSignedWithTheSameSecret(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), withWebhooksToLoopback())
			old, moved := newHookReceiver(t, false), newHookReceiver(t, false)
			id, secret := registerHook(t, n, old.srv.URL+"/hooks", "delivery.sent")

			resp := n.DoWithHeaders(t, http.MethodPatch, "/api/v1/webhooks/"+id, notifiertest.AdminToken,
				map[string]any{"url": moved.srv.URL + "/hooks/v2?token=abc", "events": []string{"delivery.sent", "posting.completed"}},
				map[string]string{"Content-Type": "application/merge-patch+json"})
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			patched := resp.Map(t)
			require.Equal(t, moved.srv.URL+"/hooks/v2?token=abc", patched["url"])
			require.NotContains(t, patched, "secret")

			n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-hook-patched-"+transport))
			n.WaitForPostingsFromEvent(t, "evt-hook-patched-"+transport, 1)

			require.Eventually(t, func() bool { return len(moved.got()) == 2 }, 20*time.Second, 10*time.Millisecond,
				"the delivery and, newly subscribed, the posting")
			wh, err := standardwebhooks.NewWebhook(secret)
			require.NoError(t, err)
			for _, c := range moved.got() {
				require.NoError(t, wh.Verify(c.Body, c.Header), "signed with the secret it had")
			}
			require.Len(t, moved.ofType(t, "posting.completed"), 1)
			require.Empty(t, old.got(), "nothing went to the old URL")
		})
	}
}
