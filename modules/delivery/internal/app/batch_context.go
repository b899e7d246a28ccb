package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/platform/messaging"
)

// ClaimReader reads a payload stored once under a reference
// (*claimcheck.Cached).
type ClaimReader interface {
	Get(ctx context.Context, ref string) ([]byte, error)
}

// WithClaims lets the handler read the template context of a batch that
// carries only its reference (delivery.DeliverBatch.TemplateContextRef).
// missing reports whether a reader's error means the claim is gone for
// good (claimcheck.ErrNotFound).
func WithClaims(r ClaimReader, missing func(error) bool) DeliverBatchOption {
	return func(h *DeliverBatchHandler) { h.claims, h.claimMissing = r, missing }
}

// errNoClaims is a batch with a context reference given to a handler that
// has no claim reader: a wiring mistake, permanent.
var errNoClaims = errors.New("batch carries a template context reference but no claim check store is configured")

// loadContext fills cmd.TemplateContext from its reference, when the batch
// carries one instead of the context. A claim that is gone (expired or
// never committed) can never be read: that is a permanent failure, for the
// poison queue with its reason; any other read failure is retried.
func (h *DeliverBatchHandler) loadContext(ctx context.Context, cmd *delivery.DeliverBatch) error {
	if cmd.TemplateContextRef == "" || cmd.TemplateContext != nil {
		return nil
	}
	if h.claims == nil {
		return messaging.Permanent(errNoClaims)
	}
	raw, err := h.claims.Get(ctx, cmd.TemplateContextRef)
	if err != nil {
		if h.claimMissing != nil && h.claimMissing(err) {
			return messaging.Permanent(fmt.Errorf("template context %s is no longer stored: %w", cmd.TemplateContextRef, err))
		}
		return fmt.Errorf("read template context: %w", err)
	}
	var tc map[string]any
	if err := json.Unmarshal(raw, &tc); err != nil {
		return messaging.Permanent(fmt.Errorf("template context %s is not a JSON object: %w", cmd.TemplateContextRef, err))
	}
	cmd.TemplateContext = tc
	return nil
}
