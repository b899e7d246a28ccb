// Package webhooksender delivers the webhook channel: it POSTs each
// rendered message as JSON to the recipient's URL (app.Message.To), signed
// per Standard Webhooks as the status webhooks are (headers webhook-id,
// webhook-timestamp, webhook-signature), on an HTTP client whose every
// connection goes through an egress dialer and which follows no redirect.
//
// The body is
//
//	{"type": "notification", "timestamp": "<this try, RFC 3339>",
//	 "data": {"message_id", "posting_id", "user_id", "notification_type",
//	          "template", "locale", "subject", "text", "expires_at"?}}
//
// and webhook-id is message_id, the delivery's idempotency key: the same
// on every try and after a crash, so that a receiver drops repeats by it.
// Nothing of another recipient is ever in it.
//
// Answers: a 2xx is sent; 408 and timeouts (retry class timeout), 429
// (throttled), 5xx (server) and network failures (connection) are
// transient; a 3xx (redirects are not followed), 410 Gone and any other 4xx
// are permanent. A URL the egress policy refuses (loopback, private,
// link-local, a host off the allow list), that is not http(s) or holds a
// user name or password, is a permanent failure that says why. No error
// holds the URL's path or query, which may carry the receiver's credential.
package webhooksender

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/egress"
)

// UserAgent is the User-Agent of every call.
const UserAgent = "Notifier-Webhook-Channel/1"

// DefaultTimeout bounds one call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// MaxResponse is how much of an answer is read (and dropped); the rest is
// not waited for.
const MaxResponse = 64 << 10

// EventType is the body's "type".
const EventType = "notification"

// Config configures a Sender.
type Config struct {
	// Secrets sign every call, one signature each ("whsec_…"); at least
	// one is required.
	Secrets []string
	// Policy says which hosts may be reached (webhook_channel.allowed_hosts).
	Policy egress.Policy
	// Resolver looks names up; nil: net.DefaultResolver.
	Resolver egress.Resolver
	// Timeout bounds one call, connection and answer included; zero:
	// DefaultTimeout.
	Timeout time.Duration
	// Clock stamps webhook-timestamp and the body's timestamp.
	Clock clock.Clock
}

// Sender is an app.Sender for the webhook channel, safe for concurrent use:
// the workers of a lane may share one. Close it when they stop.
type Sender struct {
	client  *http.Client
	signers []*standardwebhooks.Webhook
	policy  egress.Policy
	timeout time.Duration
	clock   clock.Clock
}

var _ app.Sender = (*Sender)(nil)

// ParseSecret checks a signing secret: "whsec_" and the standard base64 of
// 24 to 64 bytes, as Standard Webhooks recommends.
func ParseSecret(secret string) (*standardwebhooks.Webhook, error) {
	raw, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New(`want "whsec_" and base64`)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New(`want "whsec_" and standard base64 after it`)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the key is %d bytes, want 24 to 64", len(key))
	}
	return standardwebhooks.NewWebhookRaw(key)
}

// New returns a Sender for cfg; it fails without a secret or a clock, or
// with a secret ParseSecret refuses.
func New(cfg Config) (*Sender, error) {
	if len(cfg.Secrets) == 0 || cfg.Clock == nil {
		return nil, errors.New("new webhook sender: a signing secret and a clock are required")
	}
	s := &Sender{policy: cfg.Policy, timeout: cfg.Timeout, clock: cfg.Clock}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	for i, secret := range cfg.Secrets {
		wh, err := ParseSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("new webhook sender: secret %d: %w", i+1, err)
		}
		s.signers = append(s.signers, wh)
	}
	dialer := egress.NewDialer(cfg.Policy, cfg.Resolver, s.timeout)
	s.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would be the address dialed, not the endpoint
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   s.timeout,
			ResponseHeaderTimeout: s.timeout,
		},
		// A redirect could lead anywhere; its status is the answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       s.timeout,
	}
	return s, nil
}

// Body is what a call POSTs.
type Body struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is the message of one recipient.
type Data struct {
	MessageID        string     `json:"message_id"`
	PostingID        string     `json:"posting_id"`
	UserID           string     `json:"user_id"`
	NotificationType string     `json:"notification_type"`
	Template         string     `json:"template"`
	Locale           string     `json:"locale"`
	Subject          string     `json:"subject"`
	Text             string     `json:"text"`
	ExpiresAt        *time.Time `json:"expires_at,omitempty"`
}

// Send implements app.Sender.
func (s *Sender) Send(ctx context.Context, msg app.Message) error {
	target, err := s.check(msg.To)
	if err != nil {
		return err
	}
	now := s.clock.Now().UTC().Truncate(time.Second)
	body, err := json.Marshal(Body{Type: EventType, Timestamp: now, Data: Data{
		MessageID: msg.IdempotencyKey, PostingID: msg.PostingID, UserID: msg.UserID,
		NotificationType: msg.NotificationType, Template: msg.Template, Locale: msg.Locale,
		Subject: msg.Subject, Text: msg.Text, ExpiresAt: msg.ExpiresAt,
	}})
	if err != nil {
		return fmt.Errorf("webhook: encode body: %w", err)
	}
	sigs := make([]string, 0, len(s.signers))
	for _, wh := range s.signers {
		sig, err := wh.Sign(msg.IdempotencyKey, now, body)
		if err != nil {
			return fmt.Errorf("webhook: sign: %w", err)
		}
		sigs = append(sigs, sig)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return errors.New("webhook url refused: not a valid URL")
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set("webhook-id", msg.IdempotencyKey)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", strings.Join(sigs, " "))
	resp, err := s.client.Do(req)
	if err != nil {
		return describe(ctx, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponse))
	_ = resp.Body.Close()
	return classify(resp.StatusCode)
}

// check returns the URL to call, or the permanent reason it may not be:
// not an absolute http(s) URL, a user name or password in it, or a host
// the policy refuses as written (an IP literal inside, localhost, a host
// off the allow list). What a name resolves to is checked as it is dialed.
func (s *Sender) check(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("webhook url refused: not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("webhook url refused: want an absolute http:// or https:// URL")
	case u.Hostname() == "":
		return "", errors.New("webhook url refused: no host")
	case u.User != nil:
		return "", errors.New("webhook url refused: a user name or password in the URL")
	}
	if err := s.policy.CheckHost(u.Hostname()); err != nil {
		return "", refused(err)
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// refused words an egress refusal as the delivery's public error.
func refused(err error) error {
	return fmt.Errorf("webhook url refused: %s", strings.TrimPrefix(err.Error(), egress.ErrForbidden.Error()+": "))
}

// classify turns an answer's status into the send's result.
func classify(code int) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout:
		return app.TransientAs(app.RetryTimeout, fmt.Errorf("webhook: status %d", code))
	case code == http.StatusTooManyRequests:
		return app.TransientAs(app.RetryThrottled, fmt.Errorf("webhook: status %d", code))
	case code >= 500:
		return app.TransientAs(app.RetryServer, fmt.Errorf("webhook: status %d", code))
	case code >= 300 && code < 400:
		return fmt.Errorf("webhook: status %d: redirects are not followed", code)
	case code == http.StatusGone:
		return fmt.Errorf("webhook: status %d: the endpoint is gone", code)
	default:
		return fmt.Errorf("webhook: status %d", code)
	}
}

// describe turns a failed call's error into words safe to store and show:
// url.Error carries the whole URL, whose path or query may hold a
// credential, so only what it wraps is said. A refused address is
// permanent; anything else is transient.
func describe(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return app.TransientAs(app.RetryTimeout, errors.New("webhook: timed out"))
		}
		err = ue.Err
	}
	var (
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
		rec  tls.RecordHeaderError
	)
	connection := func(what string) error { return app.TransientAs(app.RetryConnection, errors.New("webhook: "+what)) }
	switch {
	case errors.Is(err, egress.ErrForbidden):
		return refused(err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return app.TransientAs(app.RetryTimeout, errors.New("webhook: timed out"))
	case errors.Is(err, context.Canceled):
		return app.Transient(errors.New("webhook: cancelled"))
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return connection("the host name does not resolve")
		}
		return connection("DNS lookup failed")
	case errors.Is(err, syscall.ECONNREFUSED):
		return connection("connection refused")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return connection("connection closed by the endpoint")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return connection("host unreachable")
	case errors.As(err, &cert):
		return connection(fmt.Sprintf("TLS certificate not trusted: %v", cert.Err))
	case errors.As(err, &rec):
		return connection("TLS handshake failed: the endpoint does not speak TLS")
	default:
		return connection(fmt.Sprintf("request failed: %v", err))
	}
}

// Close closes the idle connections.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Off is the webhook channel's sender when it has no signing secret
// (outside memory mode): every delivery fails, and nothing unsigned is
// ever sent.
type Off struct{}

// ErrOff is Off's error, the deliveries' public reason.
var ErrOff = errors.New("webhook channel is off: no signing secret is configured (webhook_channel.secrets)")

// Send implements app.Sender.
func (Off) Send(context.Context, app.Message) error { return ErrOff }
