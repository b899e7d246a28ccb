// Package capture is the delivery channel of tests and of the in-memory
// run: instead of sending, it keeps every message in an Outbox that tests
// read and the log shows (the template, its locale and the masked address,
// never the subject or the body).
//
// The delivery module (deliveryfx.Module) provides one *Outbox to the fx
// graph and sends email there when smtp.addr is empty, SMS when sms.url is
// empty. A test harness gets it with
//
//	var outbox *capture.Outbox
//	app := fxtest.New(t, …, deliveryfx.Module, fx.Populate(&outbox))
//	msgs, err := outbox.Wait(ctx, 1)
package capture

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/notifier/notifier/platform/logging"
)

// ErrTransient is a failure worth retrying. Inject it (or an error wrapping
// it) with FailNext to exercise retries; any other injected error is a
// permanent failure.
var ErrTransient = errors.New("capture: transient failure")

// ErrRecipientRefused is the channel refusing the address itself for good,
// as an SMTP server's "550 5.1.1 no such user" or an SMS gateway's
// "invalid number" do. Inject it (or an error wrapping it) with FailNext to
// see the address put on the suppression list.
var ErrRecipientRefused = errors.New("capture: recipient refused")

// Message is one captured message.
type Message struct {
	// ID is the deterministic message id (the email Message-ID without
	// angle brackets).
	ID      string
	Channel string
	// Template is the name of the template the message was rendered
	// from, such as "email/welcome.md".
	Template string
	// Locale is the locale of the template file rendered, such as "en".
	Locale string
	// To is the address: an email address or a phone number.
	To        string
	Subject   string
	Text      string
	HTML      string
	PostingID string
	UserID    string
	// ListUnsubscribe is the one-click unsubscribe URL an email carries in
	// its List-Unsubscribe header; empty for mandatory types and SMS.
	ListUnsubscribe string
	// At is when the message was captured.
	At time.Time
}

// Outbox keeps captured messages in order. It is safe for concurrent use.
type Outbox struct {
	logger *slog.Logger

	mu       sync.Mutex
	messages []Message
	// changed is closed, then replaced, whenever messages grows, waking
	// every Wait.
	changed  chan struct{}
	failures []error
}

// NewOutbox returns an empty Outbox that logs each capture to logger (nil
// logs nothing).
func NewOutbox(logger *slog.Logger) *Outbox {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Outbox{logger: logger, changed: make(chan struct{})}
}

// Send captures m, stamping At with the current time when it is zero. It
// returns the next injected failure instead, if any (see FailNext).
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if m.At.IsZero() {
		m.At = time.Now().UTC()
	}
	o.mu.Lock()
	if len(o.failures) > 0 {
		err := o.failures[0]
		o.failures = o.failures[1:]
		o.mu.Unlock()
		return err
	}
	o.messages = append(o.messages, m)
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()

	// The subject and the body can hold the recipient's name: the log
	// shows only which template went to which (masked) address.
	o.logger.InfoContext(ctx, "message captured",
		"channel", m.Channel, "template", m.Template, "locale", m.Locale, "to", logging.MaskAddress(m.To),
		"posting_id", m.PostingID, "message_id", m.ID)
	return nil
}

// FailNext makes the next n calls of Send fail with err (see ErrTransient)
// without capturing anything.
func (o *Outbox) FailNext(n int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for range n {
		o.failures = append(o.failures, err)
	}
}

// Messages returns a copy of the messages captured so far, oldest first.
func (o *Outbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Message(nil), o.messages...)
}

// ByChannel returns a copy of the messages captured on channel, oldest
// first.
func (o *Outbox) ByChannel(channel string) []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Message
	for _, m := range o.messages {
		if m.Channel == channel {
			out = append(out, m)
		}
	}
	return out
}

// Wait blocks until at least n messages are captured, then returns a copy
// of them all. When ctx ends first it returns what is captured so far and
// ctx's error.
func (o *Outbox) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		o.mu.Lock()
		if len(o.messages) >= n {
			out := append([]Message(nil), o.messages...)
			o.mu.Unlock()
			return out, nil
		}
		changed := o.changed
		o.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return o.Messages(), ctx.Err()
		}
	}
}

// Reset forgets every captured message and pending injected failure.
func (o *Outbox) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.messages = nil
	o.failures = nil
}
