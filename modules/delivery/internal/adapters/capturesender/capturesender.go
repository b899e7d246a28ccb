// Package capturesender delivers through a capture.Outbox: the channel of
// tests and of the in-memory run.
package capturesender

import (
	"context"
	"errors"

	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/clock"
)

// Sender is an app.Sender that captures messages in an Outbox.
type Sender struct {
	outbox *capture.Outbox
	clock  clock.Clock
}

// New returns a Sender into outbox stamping messages with clk; both are
// required.
func New(outbox *capture.Outbox, clk clock.Clock) (*Sender, error) {
	if outbox == nil || clk == nil {
		return nil, errors.New("new capture sender: outbox and clock are required")
	}
	return &Sender{outbox: outbox, clock: clk}, nil
}

// Send implements app.Sender. An injected failure wrapping
// capture.ErrTransient is transient, one wrapping capture.ErrRecipientRefused
// a refusal of the recipient (app.RecipientRefused); any other is
// permanent.
func (s *Sender) Send(ctx context.Context, m app.Message) error {
	err := s.outbox.Send(ctx, capture.Message{
		ID: m.ID, Channel: m.Channel, Template: m.Template, Locale: m.Locale, To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		PostingID: m.PostingID, UserID: m.UserID, ListUnsubscribe: m.ListUnsubscribe, At: s.clock.Now(),
	})
	switch {
	case errors.Is(err, capture.ErrTransient):
		return app.Transient(err)
	case errors.Is(err, capture.ErrRecipientRefused):
		return app.RecipientRefused(err)
	}
	return err
}
