package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/httpsender"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/memory"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/egress"
)

// call is one request a receiver got.
type call struct {
	Header http.Header
	Body   []byte
}

func (c call) ID() string { return c.Header.Get("webhook-id") }

// payload decodes the body.
func (c call) payload(t *testing.T) map[string]any {
	t.Helper()
	var p map[string]any
	require.NoError(t, json.Unmarshal(c.Body, &p))
	return p
}

// receiver is a webhook endpoint on a loopback port: it records every call
// and answers with status(n, call), n counting from 1.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []call
	status func(n int, c call) int
}

func newReceiver(t *testing.T, status func(n int, c call) int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		c := call{Header: req.Header.Clone(), Body: body}
		r.mu.Lock()
		r.calls = append(r.calls, c)
		n := len(r.calls)
		r.mu.Unlock()
		w.WriteHeader(r.status(n, c))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func answer(status int) func(int, call) int { return func(int, call) int { return status } }

func (r *receiver) got() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// verify checks a call's signature with the Standard Webhooks library,
// as a receiver would (ignoring the timestamp's age when the test's clock
// has moved far).
func verify(t *testing.T, secret string, c call, checkAge bool) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	if checkAge {
		return wh.Verify(c.Body, c.Header)
	}
	return wh.VerifyIgnoringTimestamp(c.Body, c.Header)
}

type countingMetrics struct {
	mu      sync.Mutex
	results map[string]int
}

func (m *countingMetrics) Attempt(result string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.results == nil {
		m.results = map[string]int{}
	}
	m.results[result]++
}

// world is the module's application layer on a store, with the real HTTP
// sender allowed to reach loopback (allowed_hosts: 127.0.0.1), a fake
// clock at the real time, and no jitter.
type world struct {
	store    app.Store
	clock    *clock.Fake
	create   *app.CreateEndpointHandler
	rotate   *app.RotateSecretHandler
	enable   *app.EnableEndpointHandler
	patch    *app.PatchEndpointHandler
	get      *app.GetEndpointHandler
	attempts *app.ListAttemptsHandler
	outcomes *app.EnqueueOnDeliveryOutcomes
	finished *app.EnqueueOnPostingFinished
	d        *app.Dispatcher
	metrics  *countingMetrics
	cfg      app.DispatcherConfig
}

const maxAge = 24 * time.Hour

func logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newWorld(t *testing.T) *world { return newWorldOn(t, memory.New(), nil) }

func newWorldOn(t *testing.T, store app.Store, tune func(*app.DispatcherConfig)) *world {
	t.Helper()
	w := &world{store: store, clock: clock.NewFake(time.Now().Truncate(time.Microsecond)), metrics: &countingMetrics{}}
	policy, err := egress.NewPolicy([]string{"127.0.0.1"})
	require.NoError(t, err)
	w.create, err = app.NewCreateEndpointHandler(store, policy, w.clock, logger())
	require.NoError(t, err)
	w.rotate, err = app.NewRotateSecretHandler(store, time.Hour, w.clock, logger())
	require.NoError(t, err)
	w.enable, err = app.NewEnableEndpointHandler(store, maxAge, w.clock, logger())
	require.NoError(t, err)
	w.patch, err = app.NewPatchEndpointHandler(store, policy, w.clock, logger())
	require.NoError(t, err)
	w.get, err = app.NewGetEndpointHandler(store)
	require.NoError(t, err)
	w.attempts, err = app.NewListAttemptsHandler(store)
	require.NoError(t, err)
	w.outcomes, err = app.NewEnqueueOnDeliveryOutcomes(store, maxAge, w.clock, logger())
	require.NoError(t, err)
	w.finished, err = app.NewEnqueueOnPostingFinished(store, maxAge, w.clock, logger())
	require.NoError(t, err)
	w.cfg = app.DispatcherConfig{
		Concurrency: 8, EndpointConcurrency: 4, Timeout: 2 * time.Second,
		Policy: domain.RetryPolicy{Backoff: 5 * time.Second, MaxBackoff: time.Hour, MaxAge: maxAge, Jitter: func() float64 { return 1 }},
	}
	if tune != nil {
		tune(&w.cfg)
	}
	w.d = w.dispatcher(t, store)
	return w
}

// dispatcher returns a dispatcher of the world's settings on store (a
// second instance, when store is another process's view of the same
// database).
func (w *world) dispatcher(t *testing.T, store app.Store) *app.Dispatcher {
	t.Helper()
	policy, err := egress.NewPolicy([]string{"127.0.0.1"})
	require.NoError(t, err)
	sender, err := httpsender.New(egress.NewDialer(policy, nil, time.Second), w.cfg.Timeout, 4)
	require.NoError(t, err)
	t.Cleanup(sender.Close)
	d, err := app.NewDispatcher(store, sender, w.metrics, w.clock, logger(), w.cfg)
	require.NoError(t, err)
	return d
}

func (w *world) register(t *testing.T, url string, events ...string) domain.Endpoint {
	t.Helper()
	e, err := w.create.Handle(context.Background(), app.CreateEndpoint{URL: url, Events: events})
	require.NoError(t, err)
	return e
}

// sent reports that user's email of posting was sent.
func (w *world) sent(t *testing.T, postingID, user string) {
	t.Helper()
	w.report(t, postingID, delivery.Outcome{UserID: user, Channel: "email", Status: delivery.StatusSent, At: w.clock.Now()})
}

func (w *world) report(t *testing.T, postingID string, outcomes ...delivery.Outcome) {
	t.Helper()
	require.NoError(t, w.outcomes.Handle(context.Background(), delivery.DeliveryOutcomes{PostingID: postingID, Outcomes: outcomes}))
}

// dispatch makes every call that is due now and waits for them.
func (w *world) dispatch(t *testing.T) int {
	t.Helper()
	n, err := w.d.Tick(context.Background())
	require.NoError(t, err)
	w.d.Wait()
	return n
}

func (w *world) endpoint(t *testing.T, id uuid.UUID) app.EndpointView {
	t.Helper()
	v, err := w.get.Handle(context.Background(), id.String())
	require.NoError(t, err)
	return v
}

func (w *world) history(t *testing.T, id uuid.UUID) []domain.Attempt {
	t.Helper()
	page, err := w.attempts.Handle(context.Background(), app.ListAttempts{EndpointID: id.String(), Limit: app.MaxAttemptsLimit})
	require.NoError(t, err)
	return page.Items
}
