// Package smsgateway sends SMS through an HTTP gateway: POST <url> with the
// JSON body {"to", "text", "idempotency_key"}. A 2xx answer means sent;
// 408 and timeouts (retry class timeout), 429 (throttled), 5xx (server)
// and network failures (connection) are transient; any other answer is
// permanent. A 400 or 422 whose JSON body has "code": "invalid_number" is
// the gateway's refusal of the number itself: permanent and marked
// app.RecipientRefused, which puts the number on the suppression list. No
// other 4xx is (a 401, 403 or 404 says the gateway's URL or credentials are
// wrong, a plain 400 may be our request: suppressing every number on them
// would stop all SMS for good).
package smsgateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/tracing"
)

// DefaultTimeout bounds one request when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Config configures the gateway.
type Config struct {
	// URL is the endpoint messages are POSTed to.
	URL string
	// Timeout bounds one request; zero means DefaultTimeout.
	Timeout time.Duration
}

// Sender is an app.Sender for the SMS gateway, safe for concurrent use. It
// has an HTTP client of its own, whose connections it keeps alive between
// messages: give each delivery worker its own Sender, and Close it when the
// worker stops.
type Sender struct {
	url    string
	client *http.Client
}

// Option tunes a Sender.
type Option func(*Sender)

// WithHTTPClient sends through client (its Timeout is replaced by the
// configured one).
func WithHTTPClient(client *http.Client) Option {
	return func(s *Sender) { c := *client; s.client = &c }
}

// New returns a Sender for cfg. It fails when the URL is not an absolute
// http or https URL.
func New(cfg Config, opts ...Option) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("new sms gateway sender: sms.url must be an absolute http or https URL")
	}
	// A transport of its own: the worker's keep-alive connections are not
	// shared with the rest of the process.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	s := &Sender{url: cfg.URL, client: &http.Client{Transport: transport}}
	for _, o := range opts {
		o(s)
	}
	s.client.Timeout = cfg.Timeout
	if s.client.Timeout <= 0 {
		s.client.Timeout = DefaultTimeout
	}
	return s, nil
}

type request struct {
	To             string `json:"to"`
	Text           string `json:"text"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Send implements app.Sender. Its errors name the status or the network
// failure, never the phone number, the text or the gateway's answer.
func (s *Sender) Send(ctx context.Context, msg app.Message) error {
	body, err := json.Marshal(request{To: msg.To, Text: msg.Text, IdempotencyKey: msg.IdempotencyKey})
	if err != nil {
		return fmt.Errorf("sms gateway: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms gateway: new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", msg.IdempotencyKey)
	// The send's span, when tracing is on: the gateway's own spans join
	// the delivery's trace (nothing is written without one).
	tracing.Propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := s.client.Do(req)
	if err != nil {
		class := app.RetryConnection
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			class = app.RetryTimeout
		}
		return app.TransientAs(class, networkError(err))
	}
	// The body matters only for a refusal of the number; the rest is
	// drained (a little) so that the connection can be reused.
	invalidNumber := false
	if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity {
		invalidNumber = saysInvalidNumber(io.LimitReader(resp.Body, maxErrorBody))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout:
		return app.TransientAs(app.RetryTimeout, fmt.Errorf("sms gateway: status %d", code))
	case code == http.StatusTooManyRequests:
		return app.TransientAs(app.RetryThrottled, fmt.Errorf("sms gateway: status %d", code))
	case code >= 500:
		return app.TransientAs(app.RetryServer, fmt.Errorf("sms gateway: status %d", code))
	case invalidNumber:
		return app.RecipientRefused(fmt.Errorf("sms gateway: status %d: %s", code, CodeInvalidNumber))
	default:
		return fmt.Errorf("sms gateway: status %d", code)
	}
}

// CodeInvalidNumber is the "code" of a gateway's 400 or 422 answer that
// refuses the number itself.
const CodeInvalidNumber = "invalid_number"

// maxErrorBody bounds what is read of a refusal's body.
const maxErrorBody = 16 << 10

// saysInvalidNumber reports whether an answer's body is a JSON object whose
// "code" is CodeInvalidNumber. Nothing else of it is kept: the gateway's
// words may quote the number.
func saysInvalidNumber(body io.Reader) bool {
	var answer struct {
		Code any `json:"code"`
	}
	if err := json.NewDecoder(body).Decode(&answer); err != nil {
		return false
	}
	code, ok := answer.Code.(string)
	return ok && code == CodeInvalidNumber
}

// Close closes the idle connections the Sender keeps to the gateway.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// networkError drops the URL from a client error (it may carry a token).
func networkError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("sms gateway: timeout")
		}
		return fmt.Errorf("sms gateway: request failed: %w", ue.Err)
	}
	return fmt.Errorf("sms gateway: request failed: %w", err)
}
