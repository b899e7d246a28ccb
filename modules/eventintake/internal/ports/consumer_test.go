package ports_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/eventintake/internal/intaketest"
	"github.com/notifier/notifier/modules/eventintake/internal/ports"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
)

// maxBody is the body cap of the intakes of these tests: every test event
// is smaller.
const maxBody = 4096

// intake is the intake running on a real in-memory router, with a
// recording CreatePosting handler in place of the posting module and an
// observer of the poison queue.
type intake struct {
	m    *messaging.Messaging
	keys *countingKeyStore

	mu       sync.Mutex
	postings []posting.CreatePosting
	poisoned []*message.Message
	attempts map[string]int // by message_id, how often the consumer was called
}

// countingConsumer counts the calls of the consumer it wraps.
type countingConsumer struct {
	ports.EventConsumer
	in *intake
}

func (c countingConsumer) Handle(ctx context.Context, payload []byte, messageID string) error {
	c.in.mu.Lock()
	c.in.attempts[messageID]++
	c.in.mu.Unlock()
	return c.EventConsumer.Handle(ctx, payload, messageID)
}

func (in *intake) attemptsOf(messageID string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.attempts[messageID]
}

func startIntake(t *testing.T, exchanges ...string) *intake {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys := &countingKeyStore{MemoryKeyStore: messaging.NewMemoryKeyStore(clock.System{}, time.Hour)}
	m, err := messaging.New(messaging.Config{MaxRetries: 2, RetryInterval: time.Millisecond},
		messaging.NewMemoryTransport(nil), keys, logger)
	require.NoError(t, err)
	in := &intake{m: m, keys: keys, attempts: map[string]int{}}

	cfg, err := config.Default()
	require.NoError(t, err)
	handlers, err := app.NewEventHandlers(cfg.Intake.Flows, m.CommandBus())
	require.NoError(t, err)
	consume, err := app.NewConsumeEvent(logger, maxBody, handlers...)
	require.NoError(t, err)
	raw, err := ports.RawHandlers(exchanges, countingConsumer{EventConsumer: consume, in: in})
	require.NoError(t, err)
	for _, h := range raw {
		require.NoError(t, m.AddRawHandler(h))
	}
	// Postings travel on their lane: record both.
	for _, h := range messaging.CommandHandlerOnLanes(cqrs.NewCommandHandler("test.RecordPostings",
		func(_ context.Context, cmd *posting.CreatePosting) error {
			in.mu.Lock()
			defer in.mu.Unlock()
			in.postings = append(in.postings, *cmd)
			return nil
		})) {
		require.NoError(t, m.AddCommandHandler(h))
	}
	require.NoError(t, m.AddPoisonObserver("test.ObservePoison", func(msg *message.Message) {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.poisoned = append(in.poisoned, msg)
	}))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = m.Close() })
	select {
	case <-m.Running():
	case <-time.After(5 * time.Second):
		t.Fatal("router did not start")
	}
	return in
}

// publish sends payload as an external publisher does: plain JSON, no
// Watermill headers, a fresh message UUID each time.
func (in *intake) publish(t *testing.T, topic string, payload []byte, messageID string) {
	t.Helper()
	msg := message.NewMessage(watermill.NewUUID(), payload)
	if messageID != "" {
		msg.Metadata.Set(app.MessageIDKey, messageID)
	}
	require.NoError(t, in.m.Publisher().Publish(topic, msg))
}

func (in *intake) sent() []posting.CreatePosting {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]posting.CreatePosting(nil), in.postings...)
}

// distinct returns the postings asked for: the commands sent, one per
// idempotency key (the intake of each lane asks for a transactional
// event's postings).
func (in *intake) distinct() []posting.CreatePosting {
	var out []posting.CreatePosting
	seen := map[string]bool{}
	for _, cmd := range in.sent() {
		if !seen[cmd.IdempotencyKey] {
			seen[cmd.IdempotencyKey] = true
			out = append(out, cmd)
		}
	}
	return out
}

func (in *intake) poison() []*message.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]*message.Message(nil), in.poisoned...)
}

// countingKeyStore counts the messages the intake's deduplication dropped,
// so a test knows when a duplicate has been seen.
type countingKeyStore struct {
	*messaging.MemoryKeyStore
	mu      sync.Mutex
	dropped int
}

func (s *countingKeyStore) Claim(ctx context.Context, key string) (bool, error) {
	dup, err := s.MemoryKeyStore.Claim(ctx, key)
	if dup && strings.HasPrefix(key, ports.ConsumeEventsName) {
		s.mu.Lock()
		s.dropped++
		s.mu.Unlock()
	}
	return dup, err
}

func (s *countingKeyStore) droppedEvents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

func TestTheSameEventPublishedTwiceMakesItsPostingsOnce(t *testing.T) {
	in := startIntake(t, eventintake.Exchange)
	signup := intaketest.Event(t, "user_signed_up")

	in.publish(t, eventintake.Exchange, signup, "")
	in.publish(t, eventintake.Exchange, signup, "")
	// Once the duplicate is dropped by the intake of each lane, nothing
	// more can come of it. Both lanes ask for the welcome posting, with one
	// idempotency key: it is made once.
	require.Eventually(t, func() bool { return in.keys.droppedEvents() == 2 && len(in.sent()) == 2 },
		5*time.Second, time.Millisecond)

	cmds := in.distinct()
	require.Len(t, cmds, 1)
	require.Equal(t, posting.TypeWelcome, cmds[0].NotificationType)
	require.Equal(t, intaketest.UserURL, cmds[0].Receivers)
	require.Equal(t, "user@mail.com", cmds[0].TemplateContext["username"])
	require.Equal(t, domain.EventKey(signup, ""), cmds[0].FromEvent)
	require.Empty(t, in.poison())
}

func TestARepeatedEventIDOrMessageIDIsRecognisedWhateverTheBody(t *testing.T) {
	in := startIntake(t, eventintake.Exchange)

	in.publish(t, eventintake.Exchange, []byte(`{"event_id": "evt-1", "from_service": "cinema_scanner", "event": "new_movies", "details": {"movies": ["http://fastapi/api/v1/movies/1/"]}}`), "")
	in.publish(t, eventintake.Exchange, []byte(`{"event_id": "evt-1", "occurred_at": "2026-03-01T10:00:00Z", "from_service": "cinema_scanner", "event": "new_movies", "details": {"movies": ["http://fastapi/api/v1/movies/1/"]}}`), "")
	in.publish(t, eventintake.Exchange, intaketest.Event(t, "new_episode"), "amqp-1")
	in.publish(t, eventintake.Exchange, intaketest.Event(t, "new_episode"), "amqp-1")
	in.publish(t, eventintake.Exchange, intaketest.Event(t, "reactions_summary"), "amqp-2")
	require.Eventually(t, func() bool { return in.keys.droppedEvents() == 2 && len(in.sent()) == 3 },
		5*time.Second, time.Millisecond)

	var keys []string
	for _, cmd := range in.sent() {
		keys = append(keys, cmd.FromEvent)
	}
	require.ElementsMatch(t, []string{"evt-1", "amqp-1", "amqp-2"}, keys)
}

func TestABadEventEndsOnThePoisonQueueWithItsReason(t *testing.T) {
	in := startIntake(t, eventintake.Exchange)

	in.publish(t, eventintake.Exchange, []byte(`{"from_service": "auth", "event": "user_signed_up", "details": {"username": "u"}}`), "bad-1")
	in.publish(t, eventintake.Exchange, []byte(`{"from_service": "auth", "event": "user_deleted", "details": {}}`), "bad-2")
	in.publish(t, eventintake.Exchange, []byte(`not json at all`), "bad-3")
	require.Eventually(t, func() bool { return len(in.poison()) == 3 }, 5*time.Second, time.Millisecond)

	reasons := map[string]string{}
	for _, msg := range in.poison() {
		require.Equal(t, ports.ConsumeEventsName, msg.Metadata.Get(middleware.PoisonedHandlerKey))
		reasons[msg.Metadata.Get(app.MessageIDKey)] = msg.Metadata.Get(middleware.ReasonForPoisonedKey)
	}
	require.Contains(t, reasons["bad-1"], "details.user: is required")
	require.Contains(t, reasons["bad-2"], `event: unknown event type "user_deleted"`)
	require.Contains(t, reasons["bad-3"], "not valid JSON")
	require.Empty(t, in.sent())

	// The intake keeps going after poison.
	in.publish(t, eventintake.Exchange, intaketest.Event(t, "user_signed_up"), "")
	require.Eventually(t, func() bool { return len(in.sent()) == 2 }, 5*time.Second, time.Millisecond)
	require.Len(t, in.distinct(), 1)
	require.Len(t, in.poison(), 3, "what is wrong with an event is poisoned once, by the bulk intake")
}

func TestAnEventOverTheBodyCapGoesToThePoisonQueueOnceNamingTheCapAndTheIntakeGoesOn(t *testing.T) {
	in := startIntake(t, eventintake.Exchange)
	pad := strings.Repeat("anna.petrova@example.com ", maxBody/20)
	big := []byte(`{"from_service": "auth", "event": "user_signed_up", "details": {"username": "` + pad +
		`", "user": "` + intaketest.UserURL + `"}}`)
	require.Greater(t, len(big), maxBody)

	in.publish(t, eventintake.Exchange, big, "big-1")
	require.Eventually(t, func() bool { return len(in.poison()) == 1 }, 5*time.Second, time.Millisecond)
	in.publish(t, eventintake.Exchange, intaketest.Event(t, "user_signed_up"), "small-1")
	require.Eventually(t, func() bool { return len(in.distinct()) == 1 }, 5*time.Second, time.Millisecond,
		"the consumer goes on with the next event")

	poisoned := in.poison()[0]
	reason := poisoned.Metadata.Get(middleware.ReasonForPoisonedKey)
	require.Contains(t, reason, "big-1")
	require.Contains(t, reason, fmt.Sprintf("event body is over intake.max_body: %d bytes, the cap is %d", len(big), maxBody))
	require.NotContains(t, reason, "anna", "the reason names the cap, not the body")
	require.Equal(t, ports.ConsumeEventsName, poisoned.Metadata.Get(middleware.PoisonedHandlerKey))
	require.Equal(t, 1, in.attemptsOf("big-1"), "not retried (the router would try 3 times)")
	require.Len(t, in.poison(), 1)
}

func TestEachConfiguredExchangeIsConsumed(t *testing.T) {
	in := startIntake(t, "notifier.events", "legacy.events")

	in.publish(t, "notifier.events", intaketest.Event(t, "user_signed_up"), "")
	in.publish(t, "legacy.events", intaketest.Event(t, "new_movies"), "")
	require.Eventually(t, func() bool { return len(in.distinct()) == 2 }, 5*time.Second, time.Millisecond)
	var types []string
	for _, cmd := range in.distinct() {
		types = append(types, cmd.NotificationType)
	}
	require.ElementsMatch(t, []string{posting.TypeWelcome, posting.TypeNewMovies}, types)
}

func TestRawHandlersAreNamedPerExchangeOnlyWhenThereAreSeveral(t *testing.T) {
	t.Parallel()
	consumer := consumerFunc(func(context.Context, []byte, string) error { return nil })

	one, err := ports.RawHandlers([]string{"notifier.events"}, consumer)
	require.NoError(t, err)
	require.Len(t, one, 2, "one per lane")
	require.Equal(t, "eventintake.ConsumeEvents", one[0].Name)
	require.Equal(t, "notifier.events", one[0].Topic)
	require.Nil(t, one[0].Accept, "the bulk intake takes every event")
	require.Equal(t, "eventintake.ConsumeEvents.transactional", one[1].Name)
	require.Equal(t, "notifier.events", one[1].Topic)
	require.Equal(t, lane.Transactional, one[1].Lane)

	two, err := ports.RawHandlers([]string{"a.events", "b.events"}, consumer)
	require.NoError(t, err)
	require.Equal(t, "eventintake.ConsumeEvents.a.events", two[0].Name)
	require.Equal(t, "eventintake.ConsumeEvents.a.events.transactional", two[1].Name)
	require.Equal(t, "eventintake.ConsumeEvents.b.events", two[2].Name)
	require.Equal(t, "b.events", two[2].Topic)

	_, err = ports.RawHandlers(nil, consumer)
	require.Error(t, err)
	_, err = ports.RawHandlers([]string{"a", "a"}, consumer)
	require.ErrorContains(t, err, "listed twice")
	_, err = ports.RawHandlers([]string{"a"}, nil)
	require.Error(t, err)
}

func TestDedupKeyIsTheHandlerNameAndTheConsumersEventKey(t *testing.T) {
	t.Parallel()
	handlers, err := app.NewEventHandlers(defaultFlows(t), nopSender{})
	require.NoError(t, err)
	consume, err := app.NewConsumeEvent(slog.New(slog.DiscardHandler), 24, handlers...)
	require.NoError(t, err)
	raw, err := ports.RawHandlers([]string{"notifier.events"}, consume)
	require.NoError(t, err)
	key := raw[0].Key

	msg := message.NewMessage(watermill.NewUUID(), []byte(`{"event_id": "e5"}`))
	k, err := key("eventintake.ConsumeEvents", msg)
	require.NoError(t, err)
	require.Equal(t, "eventintake.ConsumeEvents:e5", k)

	msg = message.NewMessage(watermill.NewUUID(), []byte(`{}`))
	msg.Metadata.Set(app.MessageIDKey, "amqp-5")
	k, err = key("h", msg)
	require.NoError(t, err)
	require.Equal(t, "h:amqp-5", k)

	big := []byte(`{"event_id": "evt-over-the-cap"}`)
	k, err = key("h", message.NewMessage(watermill.NewUUID(), big))
	require.NoError(t, err)
	require.Equal(t, "h:"+domain.UnreadEventKey(big, ""), k, "a body over the cap is not read for its event_id")
}

func defaultFlows(t *testing.T) map[string]config.Flow {
	t.Helper()
	cfg, err := config.Default()
	require.NoError(t, err)
	return cfg.Intake.Flows
}

type nopSender struct{}

func (nopSender) Send(context.Context, any) error { return nil }

type consumerFunc func(ctx context.Context, payload []byte, messageID string) error

func (f consumerFunc) Handle(ctx context.Context, payload []byte, messageID string) error {
	return f(ctx, payload, messageID)
}

func (consumerFunc) Key(payload []byte, messageID string) string {
	return domain.EventKey(payload, messageID)
}

func (consumerFunc) Lane([]byte) string { return lane.Bulk }
