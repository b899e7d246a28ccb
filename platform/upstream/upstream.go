// Package upstream is the only way Notifier fetches other services.
//
// Receivers and template-context URLs name logical hosts ("auth", "fastapi",
// "activity_api"), as in https://auth/api/v1/users/<uuid>/. A Client maps each
// logical host to a configured base URL (NOTIFIER_UPSTREAMS) or to an in-process
// http.Handler, and refuses every other host without making a request, so a URL
// taken from an event can never reach an arbitrary address. Requests time out per
// attempt and are retried with exponential backoff and jitter on network errors,
// 429 and 5xx answers.
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/tracing"
)

// Defaults applied by New to the zero fields of Config.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultAttempts = 3
	DefaultBackoff  = 200 * time.Millisecond
	DefaultMaxBytes = 8 << 20
)

// maxDelay caps a single wait between attempts, including a Retry-After hint.
const maxDelay = 10 * time.Second

// maxRedirects caps the redirects followed within one upstream.
const maxRedirects = 5

var errTooManyRedirects = errors.New("too many redirects")

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	// Upstreams maps a logical host name ("auth") to a real base URL
	// ("http://10.0.0.5:8000"), usually parsed by ParseUpstreams from
	// NOTIFIER_UPSTREAMS. The base URL may carry a path prefix.
	Upstreams map[string]string
	// Timeout bounds each attempt, body included; default 5s.
	Timeout time.Duration
	// Attempts is the number of tries, the first included; default 3.
	Attempts int
	// Backoff is the delay before the first retry, doubled for each further
	// retry, with jitter; default 200ms.
	Backoff time.Duration
	// MaxBytes caps a response body; default 8 MiB.
	MaxBytes int64
}

// ParseUpstreams parses NOTIFIER_UPSTREAMS, a comma-separated list of
// name=base_url pairs such as "auth=http://10.0.0.5:8000,fastapi=http://api:8000/v2".
// Names are host names and are lowercased; each base URL must be an absolute http or
// https URL without credentials, query or fragment. An empty string yields an empty
// map. It returns an error naming the first bad entry or a repeated name.
func ParseUpstreams(s string) (map[string]string, error) {
	out := make(map[string]string)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, base, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("upstreams: entry %q: want name=base_url", item)
		}
		name, err := normalizeName(name)
		if err != nil {
			return nil, fmt.Errorf("upstreams: entry %q: %w", item, err)
		}
		base = strings.TrimSpace(base)
		if _, err := parseBaseURL(base); err != nil {
			return nil, fmt.Errorf("upstreams: %s: %w", name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("upstreams: %s: configured twice", name)
		}
		out[name] = base
	}
	return out, nil
}

// CheckUpstream reports what New would refuse in one configured logical
// host name and its base URL (the upstreams map of the configuration), so
// that a bad entry is named before anything is built.
func CheckUpstream(name, base string) error {
	if _, err := normalizeName(name); err != nil {
		return err
	}
	_, err := parseBaseURL(base)
	return err
}

// normalizeName validates a logical host name and lowercases it.
func normalizeName(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return "", errors.New("empty upstream name")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return "", fmt.Errorf("upstream name %q: invalid character %q", name, r)
		}
	}
	return name, nil
}

// parseBaseURL validates a configured base URL.
func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("base url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("base url %q: want an absolute http or https url", s)
	case u.Host == "":
		return nil, fmt.Errorf("base url %q: missing host", s)
	case u.User != nil:
		return nil, errors.New("base url: credentials are not supported")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("base url %q: query and fragment are not supported", s)
	}
	return u, nil
}

// Option customises a Client.
type Option func(*options)

type options struct {
	handlers   map[string]http.Handler
	httpClient *http.Client
	tracer     trace.Tracer
	errs       []error
}

// WithTracer gives every request (each attempt) a client span of t, a child
// of the caller's, named "GET <host>" after the logical host, with the
// attempt and the status, and sends the W3C trace context along
// (traceparent), so that the directory's own spans join the trace. The
// span never holds the path or the query, which name users.
func WithTracer(t trace.Tracer) Option {
	return func(o *options) { o.tracer = t }
}

// WithHandler serves the logical host name in-process by h, without any network.
// It is used for the demo directory and in tests. A host also present in
// Config.Upstreams is fetched from its configured base URL instead, so an operator
// can always point a name at a real service. A later WithHandler for the same name
// replaces an earlier one.
func WithHandler(name string, h http.Handler) Option {
	return func(o *options) {
		n, err := normalizeName(name)
		if err != nil {
			o.errs = append(o.errs, fmt.Errorf("with handler: %w", err))
			return
		}
		if h == nil {
			o.errs = append(o.errs, fmt.Errorf("with handler %s: nil handler", n))
			return
		}
		o.handlers[n] = h
	}
}

// WithHTTPClient makes the Client use c for network requests. Its Timeout, if any,
// still applies; its CheckRedirect is replaced so that redirects never leave the
// upstream.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) {
		if c == nil {
			o.errs = append(o.errs, errors.New("with http client: nil client"))
			return
		}
		o.httpClient = c
	}
}

// Client fetches JSON from the configured upstreams. It is safe for concurrent use.
type Client struct {
	upstreams map[string]*url.URL
	handlers  map[string]http.Handler
	network   *http.Client
	local     *http.Client
	timeout   time.Duration
	attempts  int
	backoff   time.Duration
	maxBytes  int64
	log       *slog.Logger
	tracer    trace.Tracer
}

// New returns a Client for cfg. A nil logger discards logs. It returns an error for
// an invalid upstream name or base URL, a negative setting, or an invalid option.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Client, error) {
	o := options{handlers: make(map[string]http.Handler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := errors.Join(o.errs...); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if cfg.Timeout < 0 || cfg.Attempts < 0 || cfg.Backoff < 0 || cfg.MaxBytes < 0 {
		return nil, errors.New("upstream: timeout, attempts, backoff and max bytes must not be negative")
	}
	c := &Client{
		upstreams: make(map[string]*url.URL, len(cfg.Upstreams)),
		handlers:  o.handlers,
		timeout:   orDefault(cfg.Timeout, DefaultTimeout),
		attempts:  orDefault(cfg.Attempts, DefaultAttempts),
		backoff:   orDefault(cfg.Backoff, DefaultBackoff),
		maxBytes:  orDefault(cfg.MaxBytes, DefaultMaxBytes),
		log:       logger,
		tracer:    o.tracer,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "upstream")
	for name, base := range cfg.Upstreams {
		n, err := normalizeName(name)
		if err != nil {
			return nil, fmt.Errorf("upstream: %w", err)
		}
		u, err := parseBaseURL(base)
		if err != nil {
			return nil, fmt.Errorf("upstream: %s: %w", n, err)
		}
		if _, dup := c.upstreams[n]; dup {
			return nil, fmt.Errorf("upstream: %s: configured twice", n)
		}
		c.upstreams[n] = u
	}

	network := o.httpClient
	if network == nil {
		network = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	nc := *network
	nc.CheckRedirect = sameHostRedirects
	c.network = &nc
	c.local = &http.Client{Transport: inProcessTransport(c.handlers), CheckRedirect: sameHostRedirects}
	return c, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// sameHostRedirects follows at most maxRedirects redirects, all on the scheme and
// host of the original request.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errTooManyRedirects
	}
	if first := via[0].URL; req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("redirect to another host: %w", ErrHostNotAllowed)
	}
	return nil
}

// target is a resolved request.
type target struct {
	name  string // logical host
	path  string // escaped path, never the query: safe to log
	url   string // the URL actually requested
	local bool   // served by an in-process handler
}

// String returns the logical host and path, without the query.
func (t target) String() string { return t.name + t.path }

// Allowed reports whether rawURL would be fetched: an http or https URL, without
// credentials, whose host (ignoring any port) is a configured upstream or an
// in-process handler.
func (c *Client) Allowed(rawURL string) bool {
	_, err := c.resolve(rawURL)
	return err == nil
}

// resolve maps rawURL to the request to make. It never returns rawURL's query in
// an error.
func (c *Client) resolve(rawURL string) (target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return target{}, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return target{}, fmt.Errorf("%w: scheme %q", ErrHostNotAllowed, u.Scheme)
	}
	if u.User != nil {
		return target{}, fmt.Errorf("%w: credentials in url", ErrInvalidURL)
	}
	name := strings.ToLower(u.Hostname())
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if hasDotSegment(u.Path) {
		return target{}, fmt.Errorf("%w: dot segment in path", ErrInvalidURL)
	}
	query := ""
	if u.RawQuery != "" {
		query = "?" + u.RawQuery
	}
	t := target{name: name, path: p}
	if base, ok := c.upstreams[name]; ok {
		t.url = base.Scheme + "://" + base.Host + strings.TrimSuffix(base.EscapedPath(), "/") + p + query
		return t, nil
	}
	if _, ok := c.handlers[name]; ok {
		t.url = u.Scheme + "://" + name + p + query
		t.local = true
		return t, nil
	}
	if name == "" {
		return target{}, fmt.Errorf("%w: missing host", ErrHostNotAllowed)
	}
	return target{}, fmt.Errorf("%w: %q", ErrHostNotAllowed, name)
}

// hasDotSegment reports whether a path has a "." or ".." segment, which could climb
// out of a base URL's path prefix.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// GetJSON fetches rawURL and decodes its JSON body into v.
//
// It returns ErrHostNotAllowed or ErrInvalidURL, without making a request, for a
// URL it must not fetch; ErrNotFound for a 404; a *StatusError for any other non-2xx
// answer; ErrResponseTooLarge or ErrInvalidResponse for a body it cannot accept.
// Network errors, attempt timeouts, 429 and 5xx answers are retried up to
// Config.Attempts times; after the last attempt the error is transient (see
// IsTransient). When ctx ends it returns at once with ctx's error. Errors name the
// logical host and path, never the query.
func (c *Client) GetJSON(ctx context.Context, rawURL string, v any) error {
	t, err := c.resolve(rawURL)
	if err != nil {
		return fmt.Errorf("upstream: get: %w", err)
	}
	for attempt := 1; ; attempt++ {
		retryAfter, err := c.getOnce(ctx, t, attempt, v)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("upstream: get %s: %w", t, ctx.Err())
		}
		if !IsTransient(err) {
			return fmt.Errorf("upstream: get %s: %w", t, err)
		}
		if attempt >= c.attempts {
			return fmt.Errorf("upstream: get %s: %d attempts: %w", t, attempt, err)
		}
		delay := c.delay(attempt, retryAfter)
		c.log.WarnContext(ctx, "upstream request failed, retrying",
			"host", t.name, "path", t.path, "attempt", attempt, "retry_in", delay, "error", err)
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("upstream: get %s: %w", t, ctx.Err())
		case <-timer.C:
		}
	}
}

// getOnce makes one attempt. For a transient status it also returns the server's
// Retry-After hint, if any.
func (c *Client) getOnce(ctx context.Context, t target, attempt int, v any) (retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	status := 0 // the response's, for the span
	if c.tracer != nil {
		var span trace.Span
		ctx, span = c.tracer.Start(ctx, "GET "+t.name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("http.request.method", http.MethodGet),
			attribute.String("server.address", t.name),
			tracing.AttemptKey.Int(attempt),
		))
		defer func() {
			if status != 0 {
				span.SetAttributes(attribute.Int("http.response.status_code", status))
			}
			tracing.Fail(span, err)
			span.End()
		}()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "notifier")
	if c.tracer != nil {
		tracing.Propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	}

	client := c.network
	if t.local {
		client = c.local
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, classifyDoError(err)
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	c.log.DebugContext(ctx, "upstream response", "host", t.name, "path", t.path,
		"attempt", attempt, "status", resp.StatusCode, "duration", time.Since(start))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.CopyN(io.Discard, resp.Body, 4096) // let the connection be reused
		se := &StatusError{Code: resp.StatusCode}
		if se.Transient() {
			return parseRetryAfter(resp.Header.Get("Retry-After")), se
		}
		return 0, se
	}
	if resp.ContentLength > c.maxBytes {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrResponseTooLarge, resp.ContentLength, c.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return 0, &transientError{err: fmt.Errorf("read body: %w", err)}
	}
	if int64(len(body)) > c.maxBytes {
		return 0, fmt.Errorf("%w: over %d bytes", ErrResponseTooLarge, c.maxBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	return 0, nil
}

// classifyDoError strips the URL (which may hold personal data in its query) from
// an http.Client error and marks network failures transient.
func classifyDoError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, ErrHostNotAllowed) || errors.Is(err, errTooManyRedirects) {
		return err
	}
	return &transientError{err: err}
}

// delay returns the wait before the retry that follows attempt: Backoff doubled
// per earlier retry, jittered to between half and one and a half times that, and
// at least the server's Retry-After hint, all capped at maxDelay.
func (c *Client) delay(attempt int, retryAfter time.Duration) time.Duration {
	d := c.backoff
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	d = d/2 + rand.N(d)
	return min(max(d, retryAfter), maxDelay)
}

// parseRetryAfter reads a Retry-After header given in seconds; dates and garbage
// yield zero.
func parseRetryAfter(h string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || secs <= 0 {
		return 0
	}
	return min(time.Duration(secs)*time.Second, maxDelay)
}
