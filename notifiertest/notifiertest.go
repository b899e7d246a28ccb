// Package notifiertest runs a whole Notifier inside a Go test: the four
// modules on in-memory messaging and stores, a real HTTP API on a loopback
// port, a directory you choose, a clock you may control, and capture
// channels that record every email and SMS instead of sending them.
//
//	n := notifiertest.Start(t, notifiertest.WithUsers(users...))
//	n.PublishEvent(t, `{"from_service":"auth","event":"user_signed_up",…}`)
//	msgs := n.WaitForMessages(t, 1)
//
// Other services' developers can import it to check what their events
// make Notifier send.
package notifiertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/fx"

	"github.com/notifier/notifier/internal/bootstrap"
	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/demodirectory"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/jwtauth/jwtauthtest"
	"github.com/notifier/notifier/platform/logging"
	"github.com/notifier/notifier/platform/tracing"
)

// The API tokens of a test Notifier, one per role.
const (
	ServiceToken = "test-service-token"
	ManagerToken = "test-manager-token"
	AdminToken   = "test-admin-token"
)

// The settings of users' own tokens WithUserTokens turns on: HS256 JWTs
// signed with UserTokenSecret, from UserTokenIssuer, for UserTokenAudience.
const (
	UserTokenSecret   = "notifiertest-user-token-secret-0123456789"
	UserTokenIssuer   = "https://auth.test"
	UserTokenAudience = "notifier"
)

// Option changes how Start builds the Notifier.
type Option func(*settings)

type settings struct {
	transport string
	directory *demodirectory.Data
	upstreams map[string]http.Handler
	clock     clock.Clock
	configure []func(*config.Config)
	logger    *slog.Logger
	wrap      []message.HandlerMiddleware
	tracing   []tracing.Option
}

// WithUsers replaces the demo directory's users with users (movies, series
// and reviews of the demo data stay).
func WithUsers(users ...demodirectory.User) Option {
	return func(s *settings) { s.directory.Users = users }
}

// WithDirectory replaces the whole demo directory.
func WithDirectory(d *demodirectory.Data) Option {
	return func(s *settings) { s.directory = d }
}

// WithUpstream serves a logical host (as named in receivers and context
// URLs) with h instead of the demo directory.
func WithUpstream(name string, h http.Handler) Option {
	return func(s *settings) { s.upstreams[name] = h }
}

// WithClock makes the Notifier tell time by c (a *clock.Fake lets a test
// move past an expiry without sleeping).
func WithClock(c clock.Clock) Option {
	return func(s *settings) { s.clock = c }
}

// WithTransport runs the Notifier on a production transport instead of in
// memory: "amqp" (RabbitMQ and PostgreSQL) or "sql" (PostgreSQL only). The
// test gets its own database schema, exchanges and queues; it is skipped
// loudly when the services are missing (failed under
// NOTIFIER_REQUIRE_SERVICES=1). The services are found at
// NOTIFIER_TEST_AMQP_URL and NOTIFIER_TEST_DATABASE_URL (default: the local
// servers on their standard ports).
func WithTransport(transport string) Option {
	return func(s *settings) { s.transport = transport }
}

// WithLog makes the Notifier log to w at level ("debug", "info", "warn",
// "error") in the text format, through the logger of production
// (logging.New, personal data masked), instead of to stderr at the level
// of NOTIFIER_TEST_LOG. w must be safe for concurrent use.
func WithLog(w io.Writer, level string) Option {
	return func(s *settings) { s.logger = logging.New(w, level, "text") }
}

// WithConfig edits the configuration before start.
func WithConfig(f func(*config.Config)) Option {
	return func(s *settings) { s.configure = append(s.configure, f) }
}

// WithUserTokens makes the Notifier accept users' own tokens, HS256 JWTs
// with UserTokenSecret, UserTokenIssuer and UserTokenAudience, such as
// UserToken makes.
func WithUserTokens() Option {
	return WithConfig(func(c *config.Config) {
		c.Auth.JWT = config.JWT{
			Secret:   UserTokenSecret,
			Issuer:   UserTokenIssuer,
			Audience: UserTokenAudience,
			Leeway:   30 * time.Second,
		}
	})
}

// WithHandlerMiddleware wraps every message handler of the Notifier with
// mw, inside the handler's database transaction (when it has one) and
// outside deduplication: a fault or a hold the test injects. The message's
// context tells its lane (lane.From).
func WithHandlerMiddleware(mw message.HandlerMiddleware) Option {
	return func(s *settings) { s.wrap = append(s.wrap, mw) }
}

// WithTracing turns tracing on, with every span the Notifier ends handed to
// p (such as tracetest.NewSpanRecorder()), through the same setup as the
// OTLP exporter of production: an HTTP request's span, each message
// handler's, each send's.
func WithTracing(p sdktrace.SpanProcessor) Option {
	return func(s *settings) { s.tracing = append(s.tracing, tracing.WithSpanProcessor(p)) }
}

// Notifier is a running test instance.
type Notifier struct {
	// URL is the base URL of the HTTP API, such as http://127.0.0.1:41234.
	URL string
	// Outbox holds every message the capture channels "sent".
	Outbox *capture.Outbox
	// Config is the configuration it runs with.
	Config config.Config

	publisher message.Publisher
	client    *http.Client
	clock     clock.Clock

	mu       sync.Mutex
	poisoned []Poisoned

	stopOnce sync.Once
	stop     func() error
}

// Stop stops the Notifier gracefully now rather than when the test ends
// (to start another on the same database: a restart).
func (n *Notifier) Stop(t testing.TB) {
	t.Helper()
	var err error
	n.stopOnce.Do(func() { err = n.stop() })
	if err != nil {
		t.Fatalf("notifiertest: stop: %v", err)
	}
}

// Poisoned is a message the intake or a handler gave up on.
type Poisoned struct {
	Handler string
	Reason  string
	Payload string
}

// UnsubscribeKey signs the unsubscribe links of a Notifier on a production
// transport (memory mode makes a key of its own).
const UnsubscribeKey = "notifiertest-unsubscribe-key-of-32-bytes+"

// Start builds and starts a Notifier; it stops when the test ends.
func Start(t testing.TB, opts ...Option) *Notifier {
	t.Helper()
	demo, err := demodirectory.LoadDefault()
	if err != nil {
		t.Fatalf("notifiertest: load demo directory: %v", err)
	}
	s := &settings{directory: demo, upstreams: map[string]http.Handler{}, clock: clock.System{}}
	for _, o := range opts {
		o(s)
	}
	cfg, err := config.Default()
	if err != nil {
		t.Fatalf("notifiertest: %v", err)
	}
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.API.Tokens = "service:" + ServiceToken + ",manager:" + ManagerToken + ",admin:" + AdminToken
	cfg.Upstreams = map[string]string{}
	cfg.Delivery.Backoff = 5 * time.Millisecond
	cfg.Delivery.MaxBackoff = 20 * time.Millisecond
	cfg.Messaging.RetryInterval = 5 * time.Millisecond
	if s.transport != "" && s.transport != config.TransportMemory {
		useProductionTransport(t, &cfg, s.transport)
	}
	for _, f := range s.configure {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("notifiertest: configuration: %v", err)
	}

	handlers := map[string]http.Handler{
		"auth":         demodirectory.NewAuth(s.directory),
		"fastapi":      demodirectory.NewFastAPI(s.directory),
		"activity_api": demodirectory.NewActivity(s.directory),
	}
	for name, h := range s.upstreams {
		handlers[name] = h
	}

	n := &Notifier{Config: cfg, client: &http.Client{Timeout: 30 * time.Second}, clock: s.clock}
	logger := s.logger
	if logger == nil {
		logger = testLogger()
	}
	var server *httpapi.Server
	app := fx.New(
		bootstrap.App(bootstrap.Options{
			Config:    cfg,
			Logger:    logger,
			Clock:     s.clock,
			Upstreams: handlers,
			Version:   "test",
			OnPoison:  n.recordPoison,

			HandlerMiddlewares: s.wrap,
			TracingOptions:     s.tracing,
		}),
		fx.Populate(&n.Outbox, &n.publisher, &server),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("notifiertest: build: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("notifiertest: start: %v", err)
	}
	n.stop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return app.Stop(ctx)
	}
	t.Cleanup(func() {
		var err error
		n.stopOnce.Do(func() { err = n.stop() })
		if err != nil {
			t.Errorf("notifiertest: stop: %v", err)
		}
	})
	n.URL = "http://" + server.Addr()
	return n
}

// useProductionTransport points cfg at the test services, isolated by a
// schema and a name prefix of this test's own.
func useProductionTransport(t testing.TB, cfg *config.Config, transport string) {
	t.Helper()
	cfg.Transport = transport
	cfg.Directory.Demo = true // the harness serves its directory in-process
	cfg.Database.URL, _ = testenv.Schema(t)
	cfg.Database.AutoMigrate = true
	cfg.SQL.PollInterval = 10 * time.Millisecond
	cfg.HTTP.PublicURL = "https://notifier.test"
	cfg.Unsubscribe.Keys = []string{UnsubscribeKey}
	if transport == config.TransportAMQP {
		cfg.AMQP.URL = testenv.AMQPURL(t)
		cfg.AMQP.Prefix = testenv.AMQPPrefix(t, cfg.AMQP.URL)
		cfg.AMQP.Exchanges = []string{cfg.AMQP.Prefix + ".events"}
	}
}

// testLogger logs to stderr at the level in NOTIFIER_TEST_LOG (default:
// errors only), so a failing test can be rerun with its logs.
func testLogger() *slog.Logger {
	level := os.Getenv("NOTIFIER_TEST_LOG")
	if level == "" {
		level = "error"
	}
	return logging.New(os.Stderr, level, "text")
}

func (n *Notifier) recordPoison(msg *message.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.poisoned = append(n.poisoned, Poisoned{
		Handler: msg.Metadata.Get(middleware.PoisonedHandlerKey),
		Reason:  msg.Metadata.Get(middleware.ReasonForPoisonedKey),
		Payload: string(msg.Payload),
	})
}

// Poisoned returns the messages sent to the poison queue so far.
func (n *Notifier) Poisoned() []Poisoned {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Poisoned(nil), n.poisoned...)
}

// WaitForPoisoned waits until at least count messages were poisoned.
func (n *Notifier) WaitForPoisoned(t testing.TB, count int) []Poisoned {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p := n.Poisoned(); len(p) >= count {
			return p
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("notifiertest: %d poisoned messages, want %d", len(n.Poisoned()), count)
	return nil
}

// PublishEvent publishes body on the events exchange exactly as another
// service would over AMQP: plain JSON, no Watermill metadata.
func (n *Notifier) PublishEvent(t testing.TB, body string) {
	t.Helper()
	n.PublishEventWithID(t, body, "")
}

// PublishEventWithID is PublishEvent with an AMQP-style message_id.
func (n *Notifier) PublishEventWithID(t testing.TB, body, messageID string) {
	t.Helper()
	// Like a plain AMQP publisher: the message id, when there is one, is the
	// AMQP message_id; there are no other headers.
	msg := message.NewMessage(messageID, []byte(body))
	if messageID != "" {
		msg.Metadata.Set("message_id", messageID)
	}
	n.PublishEventMessage(t, msg)
}

// PublishEventMessage publishes msg on the events exchange as it is.
func (n *Notifier) PublishEventMessage(t testing.TB, msg *message.Message) {
	t.Helper()
	exchange := eventintake.Exchange
	if len(n.Config.AMQP.Exchanges) > 0 {
		exchange = n.Config.AMQP.Exchanges[0]
	}
	if err := n.publisher.Publish(exchange, msg); err != nil {
		t.Fatalf("notifiertest: publish event: %v", err)
	}
}

// Publish publishes msg on one of the Notifier's own topics (such as
// "commands.posting.CreatePosting.v1"), as its buses would: a test uses it
// to put work on a hop directly.
func (n *Notifier) Publish(t testing.TB, topic string, msg *message.Message) {
	t.Helper()
	if err := n.publisher.Publish(topic, msg); err != nil {
		t.Fatalf("notifiertest: publish on %s: %v", topic, err)
	}
}

// Response is an API answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("notifiertest: decode %s: %v", r.Body, err)
	}
}

// Map decodes the body into a map.
func (r Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do calls the API. body may be nil, a string or []byte (sent as is), or
// any value (sent as JSON). An empty token sends no Authorization header.
func (n *Notifier) Do(t testing.TB, method, path, token string, body any) Response {
	t.Helper()
	return n.DoWithHeaders(t, method, path, token, body, nil)
}

// DoWithHeaders is Do with extra request headers.
func (n *Notifier) DoWithHeaders(t testing.TB, method, path, token string, body any, headers map[string]string) Response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("notifiertest: encode body: %v", err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, n.URL+path, r)
	if err != nil {
		t.Fatalf("notifiertest: %v", err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("notifiertest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("notifiertest: read response: %v", err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// UserToken returns the token the auth service would issue to user: an
// HS256 JWT with the Notifier's secret, issuer and audience, issued now by
// the Notifier's clock and valid for ten minutes. The Notifier must accept
// such tokens (WithUserTokens, or auth.jwt set through WithConfig).
func (n *Notifier) UserToken(t testing.TB, user string) string {
	t.Helper()
	j := n.Config.Auth.JWT
	if j.Secret == "" {
		t.Fatal("notifiertest: UserToken needs a Notifier started WithUserTokens")
	}
	return jwtauthtest.SignHS256(t, []byte(j.Secret), jwtauthtest.ValidClaims(j.Issuer, j.Audience, user, n.clock.Now()))
}

// Posting is the posting resource as the API returns it.
type Posting struct {
	ID               string   `json:"id"`
	Status           string   `json:"status"`
	FromEvent        string   `json:"from_event"`
	NotificationType string   `json:"notification_type"`
	Template         string   `json:"template"`
	DeliveryType     []string `json:"delivery_type"`
	Priority         string   `json:"priority"`
	Error            string   `json:"error"`
	Counters         struct {
		Recipients int `json:"recipients"`
		Skipped    int `json:"skipped"`
		Sent       int `json:"sent"`
		Failed     int `json:"failed"`
		Expired    int `json:"expired"`
		Cancelled  int `json:"cancelled"`
	} `json:"counters"`
}

// Done reports whether the posting reached a final status.
func (p Posting) Done() bool {
	switch p.Status {
	case "completed", "cancelled", "expired", "failed":
		return true
	}
	return false
}

// Posting reads a posting.
func (n *Notifier) Posting(t testing.TB, id string) Posting {
	t.Helper()
	resp := n.Do(t, http.MethodGet, "/api/v1/postings/"+id, ServiceToken, nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("notifiertest: get posting %s: %d %s", id, resp.Status, resp.Body)
	}
	var p Posting
	resp.JSON(t, &p)
	return p
}

// WaitForPosting polls a posting until it reaches a final status.
func (n *Notifier) WaitForPosting(t testing.TB, id string) Posting {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var p Posting
	for time.Now().Before(deadline) {
		if p = n.Posting(t, id); p.Done() {
			return p
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("notifiertest: posting %s still %q: %+v", id, p.Status, p)
	return p
}

// PostingsFromEvent lists the postings made from an event key.
func (n *Notifier) PostingsFromEvent(t testing.TB, eventKey string) []Posting {
	t.Helper()
	resp := n.Do(t, http.MethodGet, "/api/v1/postings?from_event="+eventKey, ServiceToken, nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("notifiertest: list postings: %d %s", resp.Status, resp.Body)
	}
	var list struct {
		Items []Posting `json:"items"`
	}
	resp.JSON(t, &list)
	return list.Items
}

// WaitForPostingsFromEvent waits until count postings exist for an event
// and all of them are final.
func (n *Notifier) WaitForPostingsFromEvent(t testing.TB, eventKey string, count int) []Posting {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var items []Posting
	for time.Now().Before(deadline) {
		items = n.PostingsFromEvent(t, eventKey)
		if len(items) >= count && allDone(items) {
			return items
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("notifiertest: event %s has postings %+v, want %d final", eventKey, items, count)
	return nil
}

func allDone(ps []Posting) bool {
	for _, p := range ps {
		if !p.Done() {
			return false
		}
	}
	return true
}

// WaitForMessages waits until the capture channels hold at least count
// messages and returns them all.
func (n *Notifier) WaitForMessages(t testing.TB, count int) []capture.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := n.Outbox.Wait(ctx, count)
	if err != nil {
		t.Fatalf("notifiertest: %d messages captured, want %d: %v", len(n.Outbox.Messages()), count, err)
	}
	return msgs
}
