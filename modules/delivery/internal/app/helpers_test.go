package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/templating"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testTemplates is a small template tree: one email template with an sms
// twin, both with an English file beside the bare (Russian) one, and one
// email template without.
var testTemplates = fstest.MapFS{
	"layouts/email.html": {Data: []byte("<html lang=\"{{ locale }}\"><body>{{ content|safe }}" +
		"{% if unsubscribe_url %}<a href=\"{{ unsubscribe_url }}\">unsubscribe</a>{% endif %}</body></html>")},
	"layouts/email.en.html": {Data: []byte("<html lang=\"{{ locale }}\"><body>{{ content|safe }}<p>English footer</p>" +
		"{% if unsubscribe_url %}<a href=\"{{ unsubscribe_url }}\">unsubscribe</a>{% endif %}</body></html>")},
	"email/hello.md": {Data: []byte("---\nsubject: \"Привет, {{ user.first_name|default:user.username }}!\"\n---\n" +
		"Здравствуйте, {{ user.first_name }}! {{ note }}\n")},
	"email/hello.en.md": {Data: []byte("---\nsubject: \"Hi {{ user.first_name|default:user.username }}!\"\n---\n" +
		"Hello {{ user.first_name }}! {{ note }}\n")},
	"sms/hello.md":     {Data: []byte("Привет, {{ user.first_name }}! Код {{ code }}.")},
	"sms/hello.en.md":  {Data: []byte("Hi {{ user.first_name }}! Code {{ code }}.")},
	"email/only.md":    {Data: []byte("---\nsubject: Only\n---\nOnly email.\n")},
	"inapp/hello.md":   {Data: []byte("---\nsubject: \"Привет, {{ user.first_name }}!\"\n---\n**{{ note }}**\n")},
	"webhook/hello.md": {Data: []byte("---\nsubject: \"Привет, {{ user.first_name }}!\"\n---\n**{{ note }}**\n")},
	"email/broken.md":  {Data: []byte("---\nsubject: Broken\n---\nline one\n{% if %}\n")},
	"email/likes_digest.md": {Data: []byte("---\nsubject: \"{{ totals.total }} reactions\"\n---\n" +
		"{% for g in groups %}[{{ g.key }}={{ g.totals.total }}/{{ g.count }}]{% endfor %}" +
		"{% for i in items %}<{{ i.posting_id }}:{{ i.total }}>{% endfor %} more={{ more }} count={{ count }}\n")},
}

// sender records what it is asked to send and fails as scripted.
type sender struct {
	mu       sync.Mutex
	sent     []app.Message
	attempts int
	// script gives the result of each call in turn; past its end, nil.
	script []error
	// fail, when set, decides the result of every call past the script.
	fail func(app.Message) error
}

func (s *sender) Send(_ context.Context, m app.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0], s.script[1:]
	} else if s.fail != nil {
		err = s.fail(m)
	}
	if err == nil {
		s.sent = append(s.sent, m)
	}
	return err
}

func (s *sender) messages() []app.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]app.Message(nil), s.sent...)
}

func (s *sender) tries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// events records published DeliveryOutcomes.
type events struct {
	mu   sync.Mutex
	got  []delivery.DeliveryOutcomes
	fail error
}

func (e *events) Publish(_ context.Context, ev any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return e.fail
	}
	e.got = append(e.got, *ev.(*delivery.DeliveryOutcomes))
	return nil
}

func (e *events) published() []delivery.DeliveryOutcomes {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]delivery.DeliveryOutcomes(nil), e.got...)
}

// harness runs the use cases on a memory store, recording senders and
// events, a fake clock and one worker: the rows of a batch go one after the
// other, as the stories of deliver_batch_test.go tell them (the concurrent
// ones are in workers_test.go).
type harness struct {
	store *memory.Store
	// suppressions is the suppression list the handler checks and adds to.
	suppressions *memory.Suppressions
	email        *sender
	sms          *sender
	events       *events
	clock        *clock.Fake
	policy       app.RetryPolicy
	workers      *app.Workers
	handler      *app.DeliverBatchHandler
	cancel       *app.CancelDeliveriesOnPostingCancelled

	mu     sync.Mutex
	sleeps []time.Duration
}

func newHarness(t *testing.T, policy app.RetryPolicy) *harness {
	t.Helper()
	h := &harness{store: memory.New(), suppressions: memory.NewSuppressions(), email: &sender{}, sms: &sender{}, events: &events{},
		clock: clock.NewFake(start), policy: policy}
	h.workers = startWorkers(t, 1, func() (app.Senders, error) { return app.Senders{"email": h.email, "sms": h.sms}, nil })
	h.handler = mustHandlerWithSleep(t, h, nil)
	var err error
	h.cancel, err = app.NewCancelDeliveriesOnPostingCancelled(h.store, h.events, h.clock, discard())
	require.NoError(t, err)
	return h
}

// startWorkers starts a pool of n workers with senders from newSenders and
// stops it at the end of the test.
func startWorkers(t *testing.T, n int, newSenders app.NewSenders) *app.Workers {
	t.Helper()
	w, err := app.NewWorkers(n, newSenders, discard())
	require.NoError(t, err)
	w.Start()
	t.Cleanup(func() { require.NoError(t, w.Stop(context.Background())) })
	return w
}

// mustHandlerWithSleep returns a handler on h's store, workers, events and
// clock, without jitter, waiting with sleep; nil sleep records the delay and
// advances the fake clock by it.
func mustHandlerWithSleep(t *testing.T, h *harness, sleep app.Sleep, opts ...app.DeliverBatchOption) *app.DeliverBatchHandler {
	t.Helper()
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.sleeps = append(h.sleeps, d)
			h.mu.Unlock()
			h.clock.Advance(d)
			return ctx.Err()
		}
	}
	handler, err := app.NewDeliverBatchHandler(h.store, renderer(t), h.workers, h.events, h.clock, h.policy, discard(),
		append([]app.DeliverBatchOption{
			app.WithJitter(func(d time.Duration) time.Duration { return d }),
			app.WithSleep(sleep),
			app.WithSuppressions(h.suppressions),
		}, opts...)...)
	require.NoError(t, err)
	return handler
}

// slept returns the delays waited so far.
func (h *harness) slept() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.sleeps...)
}

func renderer(t *testing.T) *templating.Renderer {
	t.Helper()
	r, err := templating.New(testTemplates, "ru")
	require.NoError(t, err)
	return r
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func postingCancelled(id string) posting.PostingCancelled {
	return posting.PostingCancelled{PostingID: id, CancelledAt: start}
}

// defaultPolicy lets one row wait for its retry at a time: with the
// harness's one worker, no other row starts meanwhile.
var defaultPolicy = app.RetryPolicy{MaxAttempts: 4, Backoff: time.Second, MaxBackoff: 30 * time.Second, MaxWaiting: 1}

func recipient(id, first string) delivery.Recipient {
	return delivery.Recipient{UserID: id, FirstName: first, Username: id, Email: id + "@example.com", Phone: "+7900000" + id, Locale: "ru"}
}

func emailBatch(postingID string, recipients ...delivery.Recipient) delivery.DeliverBatch {
	b := delivery.DeliverBatch{
		PostingID: postingID, BatchNo: 1, Lane: delivery.LaneBulk, NotificationType: "new_movies",
		Template: "email/hello.md", TemplateContext: map[string]any{"note": "Новинки недели", "code": "1234"},
	}
	for _, r := range recipients {
		b.Items = append(b.Items, delivery.Item{Channel: "email", Recipient: r})
	}
	return b
}

// rows returns every delivery of a posting.
func (h *harness) rows(t *testing.T, postingID string) map[string]domain.Delivery {
	t.Helper()
	page, err := h.store.ListByPosting(context.Background(), postingID, app.ListQuery{Limit: 500})
	require.NoError(t, err)
	out := map[string]domain.Delivery{}
	for _, r := range page.Items {
		out[r.UserID+"/"+r.Channel] = r
	}
	return out
}

// outcomes flattens the published outcomes to "user/channel=status".
func (h *harness) outcomes() []string {
	var out []string
	for _, ev := range h.events.published() {
		for _, o := range ev.Outcomes {
			out = append(out, o.UserID+"/"+o.Channel+"="+o.Status)
		}
	}
	return out
}

var errBusy = app.Transient(errors.New("smtp: sending SMTP RCPT TO command: 451 4.3.0"))
