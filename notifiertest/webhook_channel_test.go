package notifiertest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/metrics"
	"github.com/notifier/notifier/platform/tracing"
)

// channelSecret signs the webhook channel's calls in these tests.
const channelSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZwYxBc8Rm0="

// withWebhookChannel signs the webhook channel's calls with channelSecret
// and lets them reach this machine (webhook_channel.allowed_hosts:
// 127.0.0.1), where the test receivers listen.
func withWebhookChannel() notifiertest.Option {
	return notifiertest.WithConfig(func(c *config.Config) {
		c.WebhookChannel.Secrets = []string{channelSecret}
		c.WebhookChannel.AllowedHosts = []string{"127.0.0.1"}
	})
}

// webhookUsers are Анна, with a webhook URL of her own, and Борис, without.
func webhookUsers(annaURL string) notifiertest.Option {
	return notifiertest.WithUsers(
		demodirectory.User{ID: anna, Email: "anna@example.com", FirstName: "Анна", Locale: "ru", IsActive: true, EmailNotifications: true,
			WebhookURL: annaURL},
		demodirectory.User{ID: boris, Email: "boris@example.com", FirstName: "Борис", Locale: "en", IsActive: true, EmailNotifications: true},
	)
}

// postWebhook creates a posting of new movies on the webhook channel (and
// extra fields) for every active user and waits for it to finish.
func postWebhook(t *testing.T, n *notifiertest.Notifier, tag, extra string) notifiertest.Posting {
	t.Helper()
	body := fmt.Sprintf(`{"from_event": "webhook-%s", "receivers": "http://auth/api/v1/users/?is_active=True",
		"template": "email/new_movies.md", "delivery_type": ["webhook"],
		"template_context": {"movies": [{"title": "Сталкер", "year": 1979}]}%s}`, tag, extra)
	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body)
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	require.NotContains(t, string(resp.Body), "s3cret", "the posting's webhook URL is never shown")
	return n.WaitForPosting(t, resp.Map(t)["id"].(string))
}

// deliveriesOf returns a posting's deliveries by "user/channel".
func deliveriesOf(t *testing.T, n *notifiertest.Notifier, postingID string) map[string]map[string]any {
	t.Helper()
	resp := n.Do(t, http.MethodGet, "/api/v1/postings/"+postingID+"/deliveries", notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	out := map[string]map[string]any{}
	for _, it := range resp.Map(t)["items"].([]any) {
		d := it.(map[string]any)
		out[d["user_id"].(string)+"/"+d["channel"].(string)] = d
	}
	return out
}

func verifiedBodies(t *testing.T, r *hookReceiver) []map[string]any {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(channelSecret)
	require.NoError(t, err)
	var out []map[string]any
	for _, c := range r.got() {
		require.NoError(t, wh.Verify(c.Body, c.Header), "signed per Standard Webhooks with the channel's secret")
		var b map[string]any
		require.NoError(t, json.Unmarshal(c.Body, &b))
		require.Equal(t, b["data"].(map[string]any)["message_id"], c.Header.Get("webhook-id"))
		out = append(out, b)
	}
	return out
}

func TestTheWebhookChannelPostsEachUserTheirOwnMessageSigned(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			r := newHookReceiver(t, false)
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), withWebhookChannel(),
				webhookUsers(r.srv.URL+"/hooks/anna?token=s3cret"))

			p := postWebhook(t, n, transport, "")

			assert.Equal(t, "completed", p.Status)
			assert.Equal(t, 1, p.Counters.Sent, "%+v", p)
			assert.Equal(t, 1, p.Counters.Skipped, "Борис has no webhook URL: %+v", p)
			bodies := verifiedBodies(t, r)
			require.Len(t, bodies, 1)
			data := bodies[0]["data"].(map[string]any)
			assert.Equal(t, "notification", bodies[0]["type"])
			assert.Equal(t, p.ID, data["posting_id"])
			assert.Equal(t, anna, data["user_id"])
			assert.Equal(t, "new_movies", data["notification_type"])
			assert.Equal(t, "webhook/new_movies.md", data["template"])
			assert.Equal(t, "ru", data["locale"])
			assert.Equal(t, "Новый фильм в каталоге: Сталкер", data["subject"])
			assert.Contains(t, data["text"], "- Сталкер (1979)")
			raw, _ := json.Marshal(bodies[0])
			assert.NotContains(t, string(raw), "anna@example.com", "no address")
			assert.NotContains(t, string(raw), boris, "nothing of another user")
			d := deliveriesOf(t, n, p.ID)
			assert.Equal(t, "sent", d[anna+"/webhook"]["status"])
			assert.Equal(t, "webhook", d[anna+"/webhook"]["provider"])
			assert.Equal(t, "skipped", d[boris+"/webhook"]["status"])
			assert.Equal(t, "no address for channel", d[boris+"/webhook"]["error"])
			require.Eventually(t, func() bool {
				v := n.Metrics(t)
				return v[metrics.Series("notifier_deliveries_total", "channel", "webhook", "lane", "bulk", "result", "sent")] == 1 &&
					v[metrics.Series("notifier_provider_sends_total", "channel", "webhook", "provider", "webhook", "result", "sent")] == 1
			}, 10*time.Second, 10*time.Millisecond, "the channel is counted under its name")
		})
	}
}

func TestAPostingsWebhookURLTakesEveryRecipientsMessage(t *testing.T) {
	t.Parallel()
	own, crm := newHookReceiver(t, false), newHookReceiver(t, false)
	n := notifiertest.Start(t, withWebhookChannel(), webhookUsers(own.srv.URL+"/hooks/anna"))

	p := postWebhook(t, n, "crm", fmt.Sprintf(`, "webhook_url": %q`, crm.srv.URL+"/hooks/notifier?token=s3cret"))

	assert.Equal(t, 2, p.Counters.Sent, "%+v", p)
	assert.Empty(t, own.got(), "the posting's URL stands for Анна's own")
	bodies := verifiedBodies(t, crm)
	require.Len(t, bodies, 2)
	users := map[any]string{}
	for _, b := range bodies {
		data := b["data"].(map[string]any)
		users[data["user_id"]] = data["locale"].(string)
	}
	assert.Equal(t, map[any]string{anna: "ru", boris: "en"}, users, "one call per recipient, each in their language")
	got := n.Do(t, http.MethodGet, "/api/v1/postings/"+p.ID, notifiertest.ServiceToken, nil)
	assert.NotContains(t, string(got.Body), "s3cret")
}

func TestAWebhookURLInsideIsRefusedAndNeverLogged(t *testing.T) {
	t.Parallel()
	r := newHookReceiver(t, false)
	log := &logBuffer{}
	// No allow list: public addresses only, and the receiver is on loopback.
	n := notifiertest.Start(t, notifiertest.WithLog(log, "info"), webhookUsers(r.srv.URL+"/hooks/anna?token=s3cret"),
		notifiertest.WithConfig(func(c *config.Config) { c.WebhookChannel.Secrets = []string{channelSecret} }))

	p := postWebhook(t, n, "inside", "")

	assert.Equal(t, 1, p.Counters.Failed, "%+v", p)
	d := deliveriesOf(t, n, p.ID)[anna+"/webhook"]
	assert.Equal(t, "failed", d["status"])
	assert.Equal(t, "webhook url refused: 127.0.0.1 is a loopback address", d["error"])
	assert.Equal(t, 1.0, d["attempts"], "refused for good: not retried")
	assert.Empty(t, r.got())
	failed := log.lines("delivery failed")
	require.NotEmpty(t, failed)
	assert.Contains(t, failed[0], "to="+r.srv.URL+"/***", "the address, masked to its host")
	assert.NotContains(t, log.String(), "s3cret", "the URL's query is never logged")
	assert.NotContains(t, log.String(), "/hooks/anna")

	for url, want := range map[string]string{
		r.srv.URL + "/hooks/anna":                  "127.0.0.1 is a loopback address",
		"http://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
		"gopher://hooks.example.com/x":             "want an absolute http:// or https:// URL",
		"https://anna:pa55@hooks.example.com/x":    "may not hold a user name or password",
	} {
		body := fmt.Sprintf(`{"receivers": "http://auth/api/v1/users/?is_active=True", "template": "email/new_movies.md",
			"delivery_type": ["webhook"], "webhook_url": %q}`, url)
		resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Status, string(resp.Body))
		assert.Contains(t, resp.Header.Get("Content-Type"), "problem+json")
		assert.Contains(t, string(resp.Body), `"location":"body.webhook_url"`)
		assert.Contains(t, string(resp.Body), want, url)
		assert.False(t, strings.Contains(string(resp.Body), "pa55"))
	}
}

func TestAWebhookEndpointThatIsGoneFailsTheDeliveryAtOnce(t *testing.T) {
	t.Parallel()
	calls := make(chan struct{}, 10)
	gone := newStatusServer(t, http.StatusGone, calls)
	n := notifiertest.Start(t, withWebhookChannel(), webhookUsers(gone+"/hooks/anna"))

	p := postWebhook(t, n, "gone", "")

	assert.Equal(t, 1, p.Counters.Failed, "%+v", p)
	d := deliveriesOf(t, n, p.ID)[anna+"/webhook"]
	assert.Equal(t, "webhook: status 410: the endpoint is gone", d["error"])
	assert.Len(t, calls, 1, "not retried")
	sup := n.Do(t, http.MethodGet, "/api/v1/suppressions", notifiertest.ManagerToken, nil)
	assert.Empty(t, sup.Map(t)["items"], "a URL never goes on the suppression list")
}

// newStatusServer answers every call with status and counts it on calls.
func newStatusServer(t *testing.T, status int, calls chan<- struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls <- struct{}{}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTheOpenAPIDocumentDescribesTheWebhookChannel(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	resp := n.Do(t, http.MethodGet, "/openapi.json", "", nil)

	require.Equal(t, http.StatusOK, resp.Status)
	doc := string(resp.Body)
	assert.Contains(t, doc, `"webhook_url"`)
	assert.Contains(t, doc, `"https://crm.example.com/hooks/notifier?token=s3cret"`, "the field's example")
	assert.Contains(t, doc, `"enum":["email","sms","inapp","webhook"]`)
}

func TestAWebhookSendHasASpanNamedAfterIt(t *testing.T) {
	t.Parallel()
	r := newHookReceiver(t, false)
	spans := tracetest.NewSpanRecorder()
	n := notifiertest.Start(t, notifiertest.WithTracing(spans), withWebhookChannel(), webhookUsers(r.srv.URL+"/hooks/anna?token=s3cret"))

	p := postWebhook(t, n, "traced", "")

	require.Equal(t, 1, p.Counters.Sent, "%+v", p)
	send := spanNamed(t, spans, "webhook.send")
	requireAttrs(t, send, map[attribute.Key]string{
		tracing.PostingIDKey: p.ID, tracing.LaneKey: "bulk", tracing.ChannelKey: "webhook",
		tracing.AttemptKey: "1", tracing.ResultKey: tracing.ResultSent, "notifier.provider": "webhook",
	})
	for _, a := range send.Attributes() {
		assert.NotContains(t, a.Value.Emit(), "s3cret", "never the URL")
	}
}
