package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/breaker"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// provider is a fake provider's sender: each send returns what next says
// for the send's number (1, 2, …), and is counted.
type provider struct {
	mu    sync.Mutex
	sends int
	next  func(n int) error
}

func (p *provider) Send(context.Context, app.Message) error {
	p.mu.Lock()
	p.sends++
	n := p.sends
	p.mu.Unlock()
	return p.next(n)
}

func (p *provider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sends
}

func down(int) error {
	return app.TransientAs(app.RetryConnection, errors.New("smtp: connect: connection refused"))
}
func up(int) error { return nil }

// providerCounts counts ProviderSend calls by provider and result.
type providerCounts struct {
	mu sync.Mutex
	n  map[[2]string]int
}

func (c *providerCounts) ProviderSend(_, provider, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[[2]string]int{}
	}
	c.n[[2]string{provider, result}]++
}

func (c *providerCounts) get(provider, result string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[[2]string{provider, result}]
}

func newBreaker(t *testing.T, failures int, openFor time.Duration) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New("test", breaker.Settings{Failures: failures, OpenFor: openFor}, nil)
	require.NoError(t, err)
	return b
}

func sendVia(t *testing.T, f *app.Failover) (string, error) {
	t.Helper()
	ctx, sentBy := app.WithSentBy(context.Background())
	err := f.Send(ctx, app.Message{ID: "m@notifier", Channel: "email", To: "user@example.com"})
	return sentBy(), err
}

func TestFailoverSendsThroughTheNextProviderWhenOneIsDown(t *testing.T) {
	t.Parallel()
	first, second := &provider{next: down}, &provider{next: up}
	counts := &providerCounts{}
	f, err := app.NewFailover("email", []app.Provider{
		{Name: "primary", Sender: first, Breaker: newBreaker(t, 3, time.Hour)},
		{Name: "backup", Sender: second, Breaker: newBreaker(t, 3, time.Hour)},
	}, counts)
	require.NoError(t, err)

	name, err := sendVia(t, f)

	require.NoError(t, err)
	require.Equal(t, "backup", name)
	require.Equal(t, 1, first.count())
	require.Equal(t, 1, second.count())
	require.Equal(t, 1, counts.get("primary", app.ProviderTransient))
	require.Equal(t, 1, counts.get("backup", app.ProviderSent))
}

func TestFailoverStopsAtARefusalOfTheRecipient(t *testing.T) {
	t.Parallel()
	refusing := &provider{next: func(int) error {
		return app.RecipientRefused(errors.New("smtp: recipient refused (550 5.1.1)"))
	}}
	backup := &provider{next: up}
	f, err := app.NewFailover("email", []app.Provider{
		{Name: "primary", Sender: refusing, Breaker: newBreaker(t, 1, time.Hour)},
		{Name: "backup", Sender: backup},
	}, nil)
	require.NoError(t, err)

	name, err := sendVia(t, f)

	require.Error(t, err)
	require.True(t, app.IsRecipientRefused(err), "the refusal stays a refusal: %v", err)
	require.False(t, app.IsTransient(err))
	require.Empty(t, name)
	require.Zero(t, backup.count(), "a refused recipient is not tried elsewhere")
	// A refusal is the provider working: its circuit stays closed.
	_, err = sendVia(t, f)
	require.True(t, app.IsRecipientRefused(err))
	require.Equal(t, 2, refusing.count())
}

func TestFailoverIsTransientWhenEveryProviderIsDown(t *testing.T) {
	t.Parallel()
	f, err := app.NewFailover("sms", []app.Provider{
		{Name: "a", Sender: &provider{next: down}},
		{Name: "b", Sender: &provider{next: func(int) error {
			return app.TransientAs(app.RetryServer, errors.New("sms gateway: status 503"))
		}}},
	}, nil)
	require.NoError(t, err)

	name, err := sendVia(t, f)

	require.True(t, app.IsTransient(err), "retried later: %v", err)
	require.Equal(t, app.RetryServer, app.RetryClassOf(err))
	require.Empty(t, name)
	require.EqualError(t, err, "every provider failed: a: smtp: connect: connection refused; b: sms gateway: status 503",
		"one line, each provider named")
}

func TestFailoverOpensTheCircuitOfAFlappingProviderAndClosesItAfterAProbe(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	healthy := false
	flapping := &provider{next: func(n int) error {
		mu.Lock()
		defer mu.Unlock()
		if healthy || n%2 == 0 {
			return nil
		}
		return down(n)
	}}
	backup := &provider{next: up}
	const openFor = 50 * time.Millisecond
	b := newBreaker(t, 2, openFor)
	counts := &providerCounts{}
	f, err := app.NewFailover("email", []app.Provider{
		{Name: "flapping", Sender: flapping, Breaker: b},
		{Name: "backup", Sender: backup},
	}, counts)
	require.NoError(t, err)

	// Failing every other time, it is never twice in a row: the circuit
	// stays closed and each failure goes to the backup.
	for range 4 {
		_, err := sendVia(t, f)
		require.NoError(t, err)
	}
	require.Equal(t, breaker.Closed, b.State())
	require.Equal(t, 2, backup.count())

	// Down twice in a row: the circuit opens, and the sends skip it.
	mu.Lock()
	flapping.next = func(n int) error {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return nil
		}
		return down(n)
	}
	mu.Unlock()
	for range 2 {
		name, err := sendVia(t, f)
		require.NoError(t, err)
		require.Equal(t, "backup", name)
	}
	require.Equal(t, breaker.Open, b.State())
	before := flapping.count()
	name, err := sendVia(t, f)
	require.NoError(t, err)
	require.Equal(t, "backup", name)
	require.Equal(t, before, flapping.count(), "an open circuit is not tried")
	require.Equal(t, 1, counts.get("flapping", app.ProviderSkipped))

	// Back up: once open for long enough, a probe goes through and closes it.
	mu.Lock()
	healthy = true
	mu.Unlock()
	require.Eventually(t, func() bool { return b.State() == breaker.HalfOpen }, 5*time.Second, openFor/5)
	name, err = sendVia(t, f)
	require.NoError(t, err)
	require.Equal(t, "flapping", name)
	require.Equal(t, breaker.Closed, b.State())
}

func TestFailoverBuildsTheMessageOncePerProvider(t *testing.T) {
	t.Parallel()
	a := &buildingProvider{provider: provider{next: down}}
	b := &buildingProvider{provider: provider{next: up}}
	f, err := app.NewFailover("email", []app.Provider{{Name: "a", Sender: a}, {Name: "b", Sender: b}}, nil)
	require.NoError(t, err)
	p, err := f.Prepare(app.Message{ID: "m@notifier"})
	require.NoError(t, err)
	require.Equal(t, 1, a.built, "the first provider builds the message before a connection is taken")
	require.Zero(t, b.built, "the others only if they are tried")

	require.Error(t, f.SendPrepared(context.Background(), &otherPrepared{}), "a message of another sender")
	ctx, sentBy := app.WithSentBy(context.Background())
	require.NoError(t, f.SendPrepared(ctx, p))
	p.Release()

	require.Equal(t, "b", sentBy())
	require.Equal(t, 1, a.built)
	require.Equal(t, 1, b.built)
	require.Equal(t, 2, a.released+b.released, "what the providers built is released with the message")
}

type otherPrepared struct{}

func (otherPrepared) Release() {}

// buildingProvider is a provider that is a Preparer and counts what it builds and
// releases.
type buildingProvider struct {
	provider
	built, released int
}

type builtMessage struct{ p *buildingProvider }

func (b builtMessage) Release() { b.p.released++ }

func (p *buildingProvider) Prepare(app.Message) (app.Prepared, error) {
	p.built++
	return builtMessage{p}, nil
}

func (p *buildingProvider) SendPrepared(ctx context.Context, _ app.Prepared) error {
	return p.Send(ctx, app.Message{})
}

func TestNewFailoverRejectsBadProviders(t *testing.T) {
	t.Parallel()
	s := &provider{next: up}
	for name, providers := range map[string][]app.Provider{
		"none":          nil,
		"no name":       {{Sender: s}},
		"no sender":     {{Name: "a"}},
		"repeated name": {{Name: "a", Sender: s}, {Name: "a", Sender: s}},
	} {
		_, err := app.NewFailover("email", providers, nil)
		require.Error(t, err, name)
	}
}

func TestASingleProvidersErrorsAreItsOwn(t *testing.T) {
	t.Parallel()
	busy := app.TransientAs(app.RetryServer, errors.New("smtp: 451 4.3.0"))
	f, err := app.NewFailover("email", []app.Provider{
		{Name: "smtp", Sender: &provider{next: func(int) error { return busy }}},
	}, nil)
	require.NoError(t, err)

	_, err = sendVia(t, f)

	require.Equal(t, busy, err, "the error text stored and shown stays what it was before failover")
}

// countingLimiter counts the sends it lets through.
type countingLimiter struct {
	mu sync.Mutex
	n  int
}

func (l *countingLimiter) Wait(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return nil
}

func (l *countingLimiter) waits() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func TestEachProviderIsPacedByItsOwnRateLimit(t *testing.T) {
	t.Parallel()
	primaryLimit, backupLimit := &countingLimiter{}, &countingLimiter{}
	b := newBreaker(t, 1, time.Hour)
	f, err := app.NewFailover("email", []app.Provider{
		{Name: "primary", Sender: &provider{next: down}, Breaker: b, Limiter: primaryLimit},
		{Name: "backup", Sender: &provider{next: up}, Limiter: backupLimit},
	}, nil)
	require.NoError(t, err)

	for range 3 {
		_, err := sendVia(t, f)
		require.NoError(t, err)
	}

	require.Equal(t, 1, primaryLimit.waits(), "once its circuit is open, the primary's limit is not waited for")
	require.Equal(t, 3, backupLimit.waits())
}
