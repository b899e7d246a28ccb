package webhooksfx

import (
	"errors"
	"fmt"
	"time"

	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/egress"
)

// Validate judges the webhooks section of the configuration, naming each
// offending key (or the variable that set it), so that the composition
// root reports it with the rest before anything is built. The module's
// constructors make the same checks.
func Validate(cfg config.Config) error {
	w := cfg.Webhooks
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", cfg.Setting(key), fmt.Sprintf(format, args...)))
	}
	if _, err := egress.NewPolicy(w.AllowedHosts); err != nil {
		add("webhooks.allowed_hosts", "%v", err)
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "%s, want a duration above zero", d)
		}
	}
	positive("webhooks.max_age", w.MaxAge)
	positive("webhooks.backoff", w.Backoff)
	positive("webhooks.timeout", w.Timeout)
	positive("webhooks.poll_interval", w.PollInterval)
	if w.MaxBackoff < w.Backoff {
		add("webhooks.max_backoff", "%s is below webhooks.backoff (%s)", w.MaxBackoff, w.Backoff)
	}
	if w.RotationGrace < 0 {
		add("webhooks.rotation_grace", "%s is negative", w.RotationGrace)
	}
	if w.Concurrency < 1 {
		add("webhooks.concurrency", "%d, at least 1 needed", w.Concurrency)
	}
	if w.EndpointConcurrency < 1 {
		add("webhooks.endpoint_concurrency", "%d, at least 1 needed", w.EndpointConcurrency)
	} else if w.Concurrency >= 1 && w.EndpointConcurrency > w.Concurrency {
		add("webhooks.endpoint_concurrency", "%d is above webhooks.concurrency (%d)", w.EndpointConcurrency, w.Concurrency)
	}
	if cfg.Database.URL != "" && w.DatabaseConns < 1 {
		add("webhooks.database_conns", "%d, at least 1 needed (the dispatcher's own connections)", w.DatabaseConns)
	}
	return errors.Join(errs...)
}
