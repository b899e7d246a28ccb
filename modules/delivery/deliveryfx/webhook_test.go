package deliveryfx_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/deliveryfx"
	"github.com/notifier/notifier/platform/config"
)

const channelSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZwYxBc8Rm0="

func webhookCode(postingID, url string) *delivery.DeliverBatch {
	return &delivery.DeliverBatch{
		PostingID: postingID, Lane: delivery.LaneTransactional, Template: "sms/phone_confirmation.md",
		TemplateContext: map[string]any{"secret_code": "9876"},
		Items:           []delivery.Item{{Channel: "webhook", Recipient: delivery.Recipient{UserID: "u1", WebhookURL: url}}},
	}
}

func (o *outcomes) errorOf(key string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, x := range o.got {
		if x.UserID+"/"+x.Channel == key {
			return x.Error
		}
	}
	return ""
}

func TestAWebhookGoesOutSignedWithTheConfiguredSecret(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	wh, err := standardwebhooks.NewWebhook(channelSecret)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- wh.Verify(body, r.Header)
	}))
	t.Cleanup(srv.Close)
	cfg := defaults(t)
	cfg.WebhookChannel.Secrets = []string{channelSecret}
	cfg.WebhookChannel.AllowedHosts = []string{"127.0.0.1"}
	s := start(t, cfg)
	ctx := waitCtx(t)

	require.NoError(t, s.commands.Send(ctx, webhookCode("hook-1", srv.URL+"/hooks/u1")))

	select {
	case err := <-got:
		require.NoError(t, err, "verified with the configured secret")
	case <-ctx.Done():
		t.Fatal("the endpoint got nothing")
	}
	require.Eventually(t, func() bool { return s.outcomes.statuses()["u1/webhook"] == delivery.StatusSent }, 10*time.Second, time.Millisecond)
	require.Empty(t, s.outbox.Messages(), "nothing captured")
}

func TestOutsideMemoryWithoutASecretTheWebhookChannelSendsNothing(t *testing.T) {
	t.Parallel()
	called := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called <- struct{}{} }))
	t.Cleanup(srv.Close)
	cfg := defaults(t)
	cfg.Transport = config.TransportAMQP // the module's stores stay in memory without a pool
	cfg.WebhookChannel.AllowedHosts = []string{"127.0.0.1"}
	s := start(t, cfg)

	require.NoError(t, s.commands.Send(waitCtx(t), webhookCode("hook-2", srv.URL+"/hooks/u1")))

	require.Eventually(t, func() bool { return s.outcomes.statuses()["u1/webhook"] == delivery.StatusFailed }, 10*time.Second, time.Millisecond)
	require.Equal(t, "webhook channel is off: no signing secret is configured (webhook_channel.secrets)", s.outcomes.errorOf("u1/webhook"))
	require.Empty(t, called, "nothing unsigned goes out")
}

func TestBadWebhookChannelSettingsStopTheStart(t *testing.T) {
	t.Parallel()
	cfg := defaults(t)
	cfg.WebhookChannel.Secrets = []string{"not-a-secret"}
	cfg.WebhookChannel.AllowedHosts = []string{"hooks.example.com/path"}
	cfg.WebhookChannel.Timeout = 0

	err := deliveryfx.Validate(cfg)

	require.ErrorContains(t, err, `webhook_channel.secrets): secret 1: want "whsec_" and base64`)
	require.ErrorContains(t, err, "webhook_channel.allowed_hosts): entry 1")
	require.ErrorContains(t, err, "webhook_channel.timeout: 0s, want a duration above zero")
	require.NotContains(t, err.Error(), "not-a-secret", "a secret is never repeated")
}
