// Package httpsender makes the webhooks module's calls: one POST per try,
// with the Standard Webhooks headers, on an HTTP client of its own whose
// every connection goes through the egress dialer and which follows no
// redirect.
package httpsender

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/platform/egress"
)

// UserAgent is the User-Agent of every call.
const UserAgent = "Notifier-Webhooks/1"

// maxResponse is how much of an answer is read (and dropped), so that its
// connection can be reused.
const maxResponse = 64 << 10

// Sender implements app.Sender over HTTP.
type Sender struct {
	client *http.Client
}

var _ app.Sender = (*Sender)(nil)

// New returns a sender whose connections dialer makes; timeout bounds a
// connection's TLS handshake and the wait for an answer's headers (each
// call's context bounds the whole call). perHost is how many idle
// connections it keeps to one endpoint.
func New(dialer *egress.Dialer, timeout time.Duration, perHost int) (*Sender, error) {
	if dialer == nil || timeout <= 0 {
		return nil, errors.New("new http sender: a dialer and a positive timeout are required")
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would be the address dialed, not the endpoint
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   max(perHost, 1),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &Sender{client: &http.Client{
		Transport: transport,
		// A redirect could lead anywhere; its status is the answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Send implements app.Sender: it POSTs r.Body as JSON with the headers
// webhook-id, webhook-timestamp (Unix seconds) and webhook-signature, and
// returns the answer's status code. Its errors never hold the URL.
func (s *Sender) Send(ctx context.Context, r app.Request) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return 0, errors.New("invalid URL")
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set("webhook-id", r.WebhookID)
	h.Set("webhook-timestamp", strconv.FormatInt(r.Timestamp.Unix(), 10))
	h.Set("webhook-signature", r.Signature)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, describe(ctx, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Close closes the idle connections.
func (s *Sender) Close() { s.client.CloseIdleConnections() }

// describe turns a failed call's error into words safe to store and show:
// url.Error carries the whole URL, whose path or query may hold a
// credential, so only what it wraps is said.
func describe(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
		rec  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, egress.ErrForbidden):
		return err
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errors.New("timed out")
	case errors.Is(err, context.Canceled):
		return errors.New("cancelled")
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return errors.New("the host name does not resolve")
		}
		return errors.New("DNS lookup failed")
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("connection closed by the endpoint")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return errors.New("host unreachable")
	case errors.As(err, &cert):
		return fmt.Errorf("TLS certificate not trusted: %v", cert.Err)
	case errors.As(err, &rec):
		return errors.New("TLS handshake failed: the endpoint does not speak TLS")
	default:
		return fmt.Errorf("request failed: %v", err)
	}
}
