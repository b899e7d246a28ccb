package deliveryfx

import (
	"errors"

	"github.com/notifier/notifier/platform/config"
)

// Validate judges the delivery settings only this module can
// (delivery.workers, delivery.connections, delivery.rate_limits and
// delivery.max_waiting_retries, and webhook_channel), naming each offending
// key, so that the composition root reports them with the rest of the
// configuration before anything is built. newLanes makes the same check.
func Validate(cfg config.Config) error {
	return errors.Join(validate(cfg.Delivery), validateWebhookChannel(cfg))
}
