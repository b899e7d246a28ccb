package notifiertest_test

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/lane"
)

// holdKey marks the messages a hold keeps busy.
const holdKey = "test_hold"

// hold keeps the handlers of the messages marked with holdKey busy: once
// armed, each takes a database connection of its lane (as a handler in
// the middle of its work does) and waits until released. The held
// messages are never handled.
type hold struct {
	mu       sync.Mutex
	entered  map[string]int // by handler name
	armed    chan struct{}
	released chan struct{}
	once     sync.Once
}

func newHold() *hold {
	return &hold{entered: map[string]int{}, armed: make(chan struct{}), released: make(chan struct{})}
}

func (h *hold) middleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if msg.Metadata.Get(holdKey) == "" {
			return next(msg)
		}
		h.mu.Lock()
		h.entered[message.HandlerNameFromCtx(msg.Context())]++
		h.mu.Unlock()
		select {
		case <-h.armed:
		case <-h.released:
			return nil, nil
		}
		if _, _, err := db.TxFrom(msg.Context()); err != nil { // one of its lane's connections
			return nil, err
		}
		<-h.released
		return nil, nil
	}
}

func (h *hold) busy(handler string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entered[handler]
}

func (h *hold) snapshot() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.entered)
}

func (h *hold) release() { h.once.Do(func() { close(h.released) }) }

// The bulk lane's hop of each step of a posting: its topic and its handler.
var bulkHops = []struct{ topic, handler string }{
	{"", "eventintake.ConsumeEvents"}, // the intake exchange
	{"commands.posting.CreatePosting.v1", "posting.CreatePosting"},
	{"commands.posting.ExpandAudience.v1", "posting.ExpandAudience"},
	{"events.posting.AudienceBatchResolved.v1", "preferences.FilterAudienceOnAudienceBatchResolved"},
	{"commands.delivery.DeliverBatch.v1.bulk", "delivery.DeliverBatch.bulk"},
	{"events.delivery.DeliveryOutcomes.v1", "posting.ApplyOutcomesOnDeliveryOutcomes"},
}

// A code goes out while every hop of the bulk lane is saturated: every
// bulk handler busy with a backlog queued behind it, and (with PostgreSQL)
// every connection of the bulk lane's pool held, so that the bulk outbox
// forwarder cannot poll either; the bulk intake too, busy with a backlog of
// events. Before lanes reached every hop, the code
// queued behind the mailing at CreatePosting, ExpandAudience,
// AudienceBatchResolved and DeliveryOutcomes, and waited for a connection.
func TestACodeGoesOutWhileEveryHopOfTheBulkLaneIsSaturated(t *testing.T) {
	// SQL first and alone: the transactions the others hold would hide its
	// messages (see pgtransport.SQL).
	for _, transport := range []string{config.TransportSQL, config.TransportMemory, config.TransportAMQP} {
		t.Run(transport, func(t *testing.T) {
			if transport != config.TransportSQL {
				t.Parallel()
			}
			h := newHold()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport),
				notifiertest.WithHandlerMiddleware(h.middleware),
				notifiertest.WithConfig(func(c *config.Config) {
					if c.Database.URL != "" {
						// Fewer bulk connections than the held handlers need.
						c.Database.URL += sep(c.Database.URL) + "pool_max_conns=8"
					}
				}))
			t.Cleanup(h.release) // before the Notifier stops

			concurrency := 1
			if transport == config.TransportAMQP {
				concurrency = n.Config.AMQP.HandlerConcurrency
			}
			const backlog = 4
			// With PostgreSQL, in one transaction: the SQL transport hands a
			// message over only once every older transaction has ended, and
			// the first held handlers' transactions would hide the others'.
			publishCtx, commit := context.Background(), func(error) error { return nil }
			if n.Config.Database.URL != "" {
				pool, err := db.Open(publishCtx, n.Config.Database.URL)
				require.NoError(t, err)
				t.Cleanup(pool.Close)
				publishCtx, commit = db.Begin(publishCtx, pool)
			}
			for _, hop := range bulkHops {
				for range concurrency + backlog {
					msg := message.NewMessage(watermill.NewUUID(), []byte(`{}`))
					msg.Metadata.Set(lane.MetadataKey, lane.Bulk)
					msg.Metadata.Set(holdKey, "1")
					msg.SetContext(publishCtx)
					if hop.topic == "" { // as another service publishes: the intake of each lane gets it
						n.PublishEventMessage(t, msg)
						continue
					}
					n.Publish(t, hop.topic, msg)
				}
			}
			require.NoError(t, commit(nil))
			for _, hop := range bulkHops {
				require.Eventually(t, func() bool { return h.busy(hop.handler) >= concurrency }, 30*time.Second, 5*time.Millisecond,
					"%s: every one of its %d handlers busy (%v)", hop.handler, concurrency, h.snapshot())
			}
			close(h.armed) // now each takes a connection too: more than the bulk pool has
			saturated := time.Now()

			code := seed(t, "posting_phone_confirmation.json", "<uuid>", anna)
			code = strings.Replace(code, `"from_event"`, `"idempotency_key": "code-`+transport+`", "from_event"`, 1)
			resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, code)
			require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
			require.Equal(t, "transactional", resp.Map(t)["priority"])

			// And a sign-up's welcome, from the exchange. Not in the SQL
			// transport: there the exchange is a table with a consumer group
			// per handler, which hands a message over only once every older
			// transaction of the server has ended (pgtransport.SQL), and
			// publishing to it takes a connection of the bulk pool.
			welcomeWhileSaturated := transport != config.TransportSQL
			signup := withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-lanes-"+transport)
			if welcomeWhileSaturated {
				n.PublishEvent(t, signup)
			}
			wanted := func() bool {
				return len(n.Outbox.ByChannel("sms")) > 0 && (!welcomeWhileSaturated || len(n.Outbox.ByChannel("email")) > 0)
			}
			deadline := time.Now().Add(30 * time.Second)
			for !wanted() {
				if time.Now().After(deadline) {
					t.Fatalf("while the bulk lane was saturated, %d codes and %d welcome emails went out, want 1 of each",
						len(n.Outbox.ByChannel("sms")), len(n.Outbox.ByChannel("email")))
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("%s: the code went out %s after the bulk lane was saturated", transport, time.Since(saturated).Round(time.Millisecond))
			require.Equal(t, "+79001234501", n.Outbox.ByChannel("sms")[0].To)
			h.release()
			if !welcomeWhileSaturated {
				n.PublishEvent(t, signup)
			}
			require.Eventually(t, func() bool { return len(n.Outbox.ByChannel("email")) > 0 }, 30*time.Second, 5*time.Millisecond,
				"the welcome went out")

			require.Equal(t, "anna@example.com", n.Outbox.ByChannel("email")[0].To)
		})
	}
}

func sep(url string) string {
	if strings.Contains(url, "?") {
		return "&"
	}
	return "?"
}
