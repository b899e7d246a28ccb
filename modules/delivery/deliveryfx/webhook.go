package deliveryfx

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/webhooksender"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/egress"
)

// webhookProvider names the webhook channel's one provider in delivery
// records and metrics.
const webhookProvider = "webhook"

// webhookAllowedHosts is the setting of the webhook channel's egress
// policy.
const webhookAllowedHosts = "webhook_channel.allowed_hosts"

// validateWebhookChannel judges webhook_channel, naming each offending key
// (or the variable that set it).
func validateWebhookChannel(cfg config.Config) error {
	w := cfg.WebhookChannel
	var errs []error
	for i, s := range w.Secrets {
		if _, err := webhooksender.ParseSecret(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: secret %d: %w", cfg.Setting("webhook_channel.secrets"), i+1, err))
		}
	}
	if _, err := egress.NewPolicyOf(webhookAllowedHosts, w.AllowedHosts); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", cfg.Setting(webhookAllowedHosts), err))
	}
	if w.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("%s: %s, want a duration above zero", cfg.Setting("webhook_channel.timeout"), w.Timeout))
	}
	return errors.Join(errs...)
}

// webhookSecrets returns the secrets that sign the webhook channel's
// calls: the configured ones, else in memory mode a random one of the
// process (logged as such: receivers cannot verify its signatures after a
// restart), else none, and the channel is off.
func webhookSecrets(cfg config.Config, logger *slog.Logger) ([]string, error) {
	if len(cfg.WebhookChannel.Secrets) > 0 {
		return cfg.WebhookChannel.Secrets, nil
	}
	if cfg.Transport != config.TransportMemory {
		logger.Warn("the webhook channel is off: no signing secret (set NOTIFIER_WEBHOOK_CHANNEL_SECRET); its deliveries fail")
		return nil, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("delivery: webhook channel secret: %w", err)
	}
	logger.Warn("the webhook channel signs with a random secret of this process: set NOTIFIER_WEBHOOK_CHANNEL_SECRET for receivers to verify its calls")
	return []string{"whsec_" + base64.StdEncoding.EncodeToString(key)}, nil
}

// newWebhookSender returns the sender of the webhook channel for one lane,
// a Failover over its one provider (named "webhook" in delivery records
// and metrics), and what closes its idle connections; without secrets,
// the channel's Off sender.
func newWebhookSender(cfg config.Config, secrets []string, clk clock.Clock, metrics app.ProviderMetrics) (app.Sender, func(), error) {
	var sender app.Sender = webhooksender.Off{}
	closeIdle := func() {}
	if len(secrets) > 0 {
		policy, err := egress.NewPolicyOf(webhookAllowedHosts, cfg.WebhookChannel.AllowedHosts)
		if err != nil {
			return nil, nil, fmt.Errorf("delivery: %s: %w", webhookAllowedHosts, err)
		}
		s, err := webhooksender.New(webhooksender.Config{
			Secrets: secrets, Policy: policy, Timeout: cfg.WebhookChannel.Timeout, Clock: clk,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("delivery: %w", err)
		}
		sender, closeIdle = s, func() { _ = s.Close() }
	}
	f, err := app.NewFailover(domain.ChannelWebhook, []app.Provider{{Name: webhookProvider, Sender: sender}}, metrics)
	if err != nil {
		return nil, nil, err
	}
	return f, closeIdle, nil
}
