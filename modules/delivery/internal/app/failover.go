package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Breaker is the circuit breaker of one provider (adapters/breaker wraps
// sony/gobreaker). Allow returns an error when the circuit is open (or
// half-open with its probes taken): the provider is skipped. Otherwise
// done must be called once with whether the provider worked: false only
// for a transient failure of the provider itself.
type Breaker interface {
	Allow() (done func(worked bool), err error)
}

// ProviderMetrics is told what each provider of a channel does, for the
// operators' metrics.
type ProviderMetrics interface {
	// ProviderSend counts one send handed to provider of channel, or
	// skipped, with its result: ProviderSent, ProviderTransient,
	// ProviderRefused, ProviderFailed or ProviderSkipped.
	ProviderSend(channel, provider, result string)
}

// The results of ProviderMetrics.ProviderSend.
const (
	ProviderSent      = "sent"
	ProviderTransient = "transient"
	ProviderRefused   = "refused"
	ProviderFailed    = "failed"
	// ProviderSkipped: the provider's circuit was open.
	ProviderSkipped = "skipped"
)

// Provider is one way to send on a channel: an SMTP server or an SMS
// gateway, with its own connection (Sender), its circuit breaker and its
// rate limit. Breaker and Limiter may be nil (none); they are shared by
// every Failover of the process that sends through the provider.
type Provider struct {
	// Name names the provider in delivery records and metrics.
	Name    string
	Sender  Sender
	Breaker Breaker
	Limiter Limiter
}

// Failover is the Sender of a channel with several providers, in priority
// order: a send goes to the first whose circuit is not open; a transient
// failure, or a circuit open, moves it to the next within the same try; a
// permanent error (a refusal of the recipient among them) is final and no
// other provider is tried. When every provider failed transiently or was
// skipped, the send fails with a transient error (the delivery's retries
// apply). Errors name the provider they come from, except with a single
// provider, whose errors are returned as they are. The provider that
// accepted the message is noted in the context (see WithSentBy).
//
// A Failover is a Preparer: Prepare has the first provider build the
// message, and each other provider that is a Preparer builds it when it is
// tried, once (an SMTP server's message carries its own sender address), so
// that a connection is usually held only for the exchange.
type Failover struct {
	channel   string
	providers []Provider
	metrics   ProviderMetrics
}

// NewFailover returns the Failover of channel over providers (at least
// one, each named and with a sender, names unique); metrics may be nil.
func NewFailover(channel string, providers []Provider, metrics ProviderMetrics) (*Failover, error) {
	if len(providers) == 0 {
		return nil, fmt.Errorf("new failover sender for %s: no provider", channel)
	}
	seen := map[string]bool{}
	for i, p := range providers {
		if p.Name == "" || p.Sender == nil {
			return nil, fmt.Errorf("new failover sender for %s: provider %d needs a name and a sender", channel, i+1)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("new failover sender for %s: provider name %q repeated", channel, p.Name)
		}
		seen[p.Name] = true
	}
	if metrics == nil {
		metrics = noProviderMetrics{}
	}
	return &Failover{channel: channel, providers: append([]Provider(nil), providers...), metrics: metrics}, nil
}

type noProviderMetrics struct{}

func (noProviderMetrics) ProviderSend(string, string, string) {}

// errCircuitOpen is the failure of a provider skipped for its open circuit.
var errCircuitOpen = errors.New("circuit open")

// failoverPrepared is a message a Failover prepared: the message, and what
// each provider that is a Preparer built of it (by provider index).
type failoverPrepared struct {
	msg   Message
	mu    sync.Mutex
	built map[int]Prepared
}

// Release implements Prepared.
func (p *failoverPrepared) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.built {
		b.Release()
	}
	p.built = nil
}

// Prepare implements Preparer: the first provider, when it is a Preparer,
// builds the message at once (before a shared connection is taken, see
// Workers); the others build it only if they are tried. Its errors are the
// first provider's, permanent.
func (f *Failover) Prepare(msg Message) (Prepared, error) {
	p := &failoverPrepared{msg: msg, built: map[int]Prepared{}}
	if first, ok := f.providers[0].Sender.(Preparer); ok {
		built, err := first.Prepare(msg)
		if err != nil {
			return nil, err
		}
		p.built[0] = built
	}
	return p, nil
}

// Send implements Sender.
func (f *Failover) Send(ctx context.Context, msg Message) error {
	p, err := f.Prepare(msg)
	if err != nil {
		return err
	}
	defer p.Release()
	return f.SendPrepared(ctx, p)
}

// SendPrepared implements Preparer.
func (f *Failover) SendPrepared(ctx context.Context, pm Prepared) error {
	p, ok := pm.(*failoverPrepared)
	if !ok {
		return errors.New("failover: not a message prepared by a failover sender")
	}
	var failures []error
	for i, pr := range f.providers {
		err := f.sendVia(ctx, i, pr, p)
		if err == nil {
			noteSentBy(ctx, pr.Name)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(f.providers) == 1 {
			if errors.Is(err, errCircuitOpen) {
				return TransientAs(RetryOther, fmt.Errorf("%s: %w", pr.Name, err))
			}
			return err // alone, the channel's errors are the provider's, as they were
		}
		err = fmt.Errorf("%s: %w", pr.Name, err)
		if !IsTransient(err) && !errors.Is(err, errCircuitOpen) {
			return err // permanent: no other provider would do better
		}
		failures = append(failures, err)
	}
	return TransientAs(lastClass(failures), fmt.Errorf("every provider failed: %w", providerFailures(failures)))
}

// providerFailures is the failures of every provider of a send, on one
// line (its text is stored with the delivery), each still reachable by
// errors.Is and errors.As.
type providerFailures []error

func (e providerFailures) Error() string {
	texts := make([]string, len(e))
	for i, err := range e {
		texts[i] = err.Error()
	}
	return strings.Join(texts, "; ")
}

func (e providerFailures) Unwrap() []error { return e }

// lastClass is the retry class of the last transient failure, RetryOther
// when every provider was skipped.
func lastClass(failures []error) RetryClass {
	for i := len(failures) - 1; i >= 0; i-- {
		if c := RetryClassOf(failures[i]); c != "" {
			return c
		}
	}
	return RetryOther
}

// sendVia sends through one provider: its circuit, its rate limit, then
// its sender.
func (f *Failover) sendVia(ctx context.Context, i int, pr Provider, p *failoverPrepared) error {
	report := func(bool) {}
	if pr.Breaker != nil {
		done, err := pr.Breaker.Allow()
		if err != nil {
			f.metrics.ProviderSend(f.channel, pr.Name, ProviderSkipped)
			return errCircuitOpen
		}
		report = done
	}
	if pr.Limiter != nil {
		if err := pr.Limiter.Wait(ctx); err != nil {
			report(true) // not the provider's fault
			return err
		}
	}
	err := f.exchange(ctx, i, pr, p)
	switch {
	case err == nil:
		report(true)
		f.metrics.ProviderSend(f.channel, pr.Name, ProviderSent)
		return nil
	case ctx.Err() != nil:
		report(true)
		return err
	case IsTransient(err):
		report(false)
		f.metrics.ProviderSend(f.channel, pr.Name, ProviderTransient)
	case IsRecipientRefused(err):
		report(true)
		f.metrics.ProviderSend(f.channel, pr.Name, ProviderRefused)
	default:
		report(true)
		f.metrics.ProviderSend(f.channel, pr.Name, ProviderFailed)
	}
	return err
}

// exchange sends p's message through pr's sender, built by it first when
// it is a Preparer.
func (f *Failover) exchange(ctx context.Context, i int, pr Provider, p *failoverPrepared) error {
	prep, ok := pr.Sender.(Preparer)
	if !ok {
		return pr.Sender.Send(ctx, p.msg)
	}
	p.mu.Lock()
	built, ok := p.built[i]
	if !ok {
		var err error
		if built, err = prep.Prepare(p.msg); err != nil {
			p.mu.Unlock()
			return err
		}
		p.built[i] = built
	}
	p.mu.Unlock()
	return prep.SendPrepared(ctx, built)
}

// Close closes the providers' senders that hold a connection.
func (f *Failover) Close() error {
	var errs []error
	for _, pr := range f.providers {
		if c, ok := pr.Sender.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", pr.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

type sentByKey struct{}

// sentBy is where a send notes the provider that accepted the message.
type sentBy struct {
	mu   sync.Mutex
	name string
}

// WithSentBy returns a context in which a Failover notes the provider that
// accepted the message, and a function that returns it ("" when none was
// noted: the sender is not a Failover).
func WithSentBy(ctx context.Context) (context.Context, func() string) {
	s := &sentBy{}
	return context.WithValue(ctx, sentByKey{}, s), func() string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.name
	}
}

func noteSentBy(ctx context.Context, name string) {
	if s, ok := ctx.Value(sentByKey{}).(*sentBy); ok {
		s.mu.Lock()
		s.name = name
		s.mu.Unlock()
	}
}
