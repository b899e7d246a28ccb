package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/webhooksender"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/egress"
)

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZwYxBc8Rm0="

// receiver is a webhook endpoint that records the calls it verifies and
// answers with the statuses of script in turn (then 204).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	calls  []receivedCall
	script []int
}

type receivedCall struct {
	path string
	id   string
	body map[string]any
}

func newReceiver(t *testing.T, script ...int) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(webhookSecret)
	require.NoError(t, err)
	r := &receiver{script: script}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		if err := wh.Verify(raw, req.Header); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		r.mu.Lock()
		r.calls = append(r.calls, receivedCall{path: req.URL.RequestURI(), id: req.Header.Get("webhook-id"), body: body})
		status := http.StatusNoContent
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []receivedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedCall(nil), r.calls...)
}

// newWebhookHarness is the harness with the webhook channel's real sender,
// allowed to reach loopback (where the test receivers listen).
func newWebhookHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{store: memory.New(), suppressions: memory.NewSuppressions(), email: &sender{}, sms: &sender{}, events: &events{},
		clock: clock.NewFake(time.Now().UTC()), policy: defaultPolicy}
	policy, err := egress.NewPolicyOf("webhook_channel.allowed_hosts", []string{"127.0.0.1"})
	require.NoError(t, err)
	// The signatures are verified against the real time (5 minutes either
	// way), so the fake clock starts now.
	s, err := webhooksender.New(webhooksender.Config{Secrets: []string{webhookSecret}, Policy: policy, Timeout: 2 * time.Second, Clock: h.clock})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	h.workers = startWorkers(t, 1, func() (app.Senders, error) {
		return app.Senders{"email": h.email, "sms": h.sms, "webhook": s}, nil
	})
	h.handler = mustHandlerWithSleep(t, h, nil)
	return h
}

func webhookBatch(postingID string, recipients ...delivery.Recipient) delivery.DeliverBatch {
	b := emailBatch(postingID)
	for _, r := range recipients {
		b.Items = append(b.Items, delivery.Item{Channel: "webhook", Recipient: r})
	}
	return b
}

func TestAWebhookDeliveryPostsTheRecipientsOwnMessageToTheirURL(t *testing.T) {
	t.Parallel()
	h := newWebhookHarness(t)
	rcv := newReceiver(t)
	anna, boris := recipient("u1", "Анна"), recipient("u2", "Борис")
	anna.WebhookURL = rcv.URL + "/hooks/anna?token=s3cret"
	boris.WebhookURL = rcv.URL + "/hooks/boris"

	require.NoError(t, h.handler.Handle(context.Background(), webhookBatch("p1", anna, boris)))

	calls := rcv.received()
	require.Len(t, calls, 2)
	byPath := map[string]receivedCall{calls[0].path: calls[0], calls[1].path: calls[1]}
	a := byPath["/hooks/anna?token=s3cret"]
	key := domain.Key{PostingID: "p1", UserID: "u1", Channel: "webhook"}.IdempotencyKey()
	assert.Equal(t, key, a.id)
	data := a.body["data"].(map[string]any)
	assert.Equal(t, "notification", a.body["type"])
	assert.Equal(t, map[string]any{
		"message_id": key, "posting_id": "p1", "user_id": "u1", "notification_type": "new_movies",
		"template": "webhook/hello.md", "locale": "ru", "subject": "Привет, Анна!", "text": "**Новинки недели**",
	}, data, "Анна's message only; no address")
	assert.Equal(t, "Привет, Борис!", byPath["/hooks/boris"].body["data"].(map[string]any)["subject"])
	assert.ElementsMatch(t, []string{"u1/webhook=sent", "u2/webhook=sent"}, h.outcomes())
	assert.Empty(t, h.email.messages())
}

func TestARecipientWithoutAWebhookURLFailsWithTheReason(t *testing.T) {
	t.Parallel()
	h := newWebhookHarness(t)

	require.NoError(t, h.handler.Handle(context.Background(), webhookBatch("p1", recipient("u1", "Анна"))))

	row := h.rows(t, "p1")["u1/webhook"]
	assert.Equal(t, delivery.StatusFailed, row.Status)
	assert.Equal(t, "recipient has no webhook address", row.Error)
}

func TestARedeliveredWebhookBatchCallsNoOneTwice(t *testing.T) {
	t.Parallel()
	h := newWebhookHarness(t)
	rcv := newReceiver(t)
	anna := recipient("u1", "Анна")
	anna.WebhookURL = rcv.URL + "/hooks/anna"
	batch := webhookBatch("p1", anna)

	require.NoError(t, h.handler.Handle(context.Background(), batch))
	require.NoError(t, h.handler.Handle(context.Background(), batch))

	assert.Len(t, rcv.received(), 1)
	assert.Equal(t, []string{"u1/webhook=sent"}, h.outcomes())
}

func TestAWebhookEndpointFailingForAWhileIsRetriedWithTheSameID(t *testing.T) {
	t.Parallel()
	h := newWebhookHarness(t)
	rcv := newReceiver(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	anna := recipient("u1", "Анна")
	anna.WebhookURL = rcv.URL + "/hooks/anna"

	require.NoError(t, h.handler.Handle(context.Background(), webhookBatch("p1", anna)))

	calls := rcv.received()
	require.Len(t, calls, 3)
	assert.Equal(t, calls[0].id, calls[2].id)
	row := h.rows(t, "p1")["u1/webhook"]
	assert.Equal(t, delivery.StatusSent, row.Status)
	assert.Equal(t, 3, row.Attempts)
}

func TestAWebhookURLRefusedOrGoneFailsAtOnceAndIsNotSuppressed(t *testing.T) {
	t.Parallel()
	h := newWebhookHarness(t)
	gone := newReceiver(t, http.StatusGone)
	anna, boris := recipient("u1", "Анна"), recipient("u2", "Борис")
	anna.WebhookURL = "http://169.254.169.254/latest/meta-data/?token=s3cret"
	boris.WebhookURL = gone.URL + "/hooks/boris"

	require.NoError(t, h.handler.Handle(context.Background(), webhookBatch("p1", anna, boris)))

	rows := h.rows(t, "p1")
	assert.Equal(t, delivery.StatusFailed, rows["u1/webhook"].Status)
	assert.Equal(t, "webhook url refused: host \"169.254.169.254\" is not on webhook_channel.allowed_hosts", rows["u1/webhook"].Error)
	assert.Equal(t, 1, rows["u1/webhook"].Attempts, "not retried")
	assert.Equal(t, delivery.StatusFailed, rows["u2/webhook"].Status)
	assert.Equal(t, "webhook: status 410: the endpoint is gone", rows["u2/webhook"].Error)
	assert.Len(t, gone.received(), 1, "not retried")
	page, err := h.suppressions.ListSuppressions(context.Background(), app.SuppressionQuery{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, page.Items, "a URL never goes on the suppression list")
}

func TestAPostingsWebhookURLTakesEveryRecipientsMessageInPlaceOfTheirOwn(t *testing.T) {
	t.Parallel()
	h := newWebhookHarness(t)
	own, crm := newReceiver(t), newReceiver(t)
	anna, boris := recipient("u1", "Анна"), recipient("u2", "Борис")
	anna.WebhookURL = own.URL + "/hooks/anna"
	batch := webhookBatch("p1", anna, boris)
	batch.WebhookURL = crm.URL + "/hooks/notifier?token=s3cret"

	require.NoError(t, h.handler.Handle(context.Background(), batch))

	assert.Empty(t, own.received())
	calls := crm.received()
	require.Len(t, calls, 2)
	users := map[any]string{}
	for _, c := range calls {
		assert.Equal(t, "/hooks/notifier?token=s3cret", c.path)
		data := c.body["data"].(map[string]any)
		users[data["user_id"]] = data["subject"].(string)
	}
	assert.Equal(t, map[any]string{"u1": "Привет, Анна!", "u2": "Привет, Борис!"}, users, "each their own message")
	assert.ElementsMatch(t, []string{"u1/webhook=sent", "u2/webhook=sent"}, h.outcomes())
}
