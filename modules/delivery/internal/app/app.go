// Package app holds the delivery module's use cases, one per file: the
// DeliverBatch command, the reaction to a cancelled posting, and the
// queries behind the HTTP port. It declares the ports it needs (Store,
// Sender, Limiter, Renderer, EventPublisher) and knows no transport; each
// delivery lane sends through a pool of Workers of its own.
package app

import (
	"context"

	"github.com/notifier/notifier/platform/templating"
)

// Renderer renders a named template with data for a recipient of locale
// (templating.Renderer): the file of that locale, of its language, or of
// the default locale; a malformed locale counts as none.
type Renderer interface {
	RenderLocale(name, locale string, data map[string]any) (templating.Rendered, error)
}

// EventPublisher publishes events (the CQRS event bus).
type EventPublisher interface {
	Publish(ctx context.Context, event any) error
}
