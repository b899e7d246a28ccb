package notifiertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/metrics"
)

var series = metrics.Series

// heldGateway is an SMS gateway that holds every request until released,
// then accepts it.
type heldGateway struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	released chan struct{}
	once     sync.Once
}

func newHeldGateway(t *testing.T) *heldGateway {
	t.Helper()
	g := &heldGateway{released: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.requests++
		g.mu.Unlock()
		<-g.released
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(g.Close)
	t.Cleanup(g.release) // runs first: no request stays held
	return g
}

func (g *heldGateway) release() { g.once.Do(func() { close(g.released) }) }

func (g *heldGateway) waitForRequests(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.requests >= n
	}, 10*time.Second, time.Millisecond, "requests held by the gateway")
}

// deliveriesWith returns every notifier_deliveries_total series at zero but
// those given.
func deliveriesWith(nonZero map[string]float64) metrics.Values {
	want := metrics.Values{}
	for _, ch := range []string{"email", "sms"} {
		for _, lane := range []string{"transactional", "bulk"} {
			for _, result := range []string{"sent", "failed", "expired", "skipped", "cancelled"} {
				want[series("notifier_deliveries_total", "channel", ch, "lane", lane, "result", result)] = 0
			}
		}
	}
	for s, v := range nonZero {
		want[s] = v
	}
	return want
}

// retriesWith returns every notifier_delivery_retries_total series at zero
// but those given.
func retriesWith(nonZero map[string]float64) metrics.Values {
	want := metrics.Values{}
	for _, ch := range []string{"email", "sms"} {
		for _, class := range []string{"timeout", "connection", "server", "throttled", "other"} {
			want[series("notifier_delivery_retries_total", "channel", ch, "class", class)] = 0
		}
	}
	for s, v := range nonZero {
		want[s] = v
	}
	return want
}

// waitForMetric scrapes until every series of want has its value (the
// outcomes are counted once their report stands, just after they are
// published), then returns the last scrape; it fails with the difference.
func waitForMetric(t *testing.T, n *notifiertest.Notifier, name string, want metrics.Values) metrics.Values {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := n.Metrics(t)
		got := v.Named(name)
		if len(got) == len(want) && equal(got, want) || time.Now().After(deadline) {
			require.Equal(t, want, got, name)
			return v
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func equal(a, b metrics.Values) bool {
	for s, v := range b {
		if got, ok := a[s]; !ok || got != v {
			return false
		}
	}
	return true
}

// The flows operators page on, through the whole system in memory: a sent
// email, a skipped opt-out, a failed delivery after its retries and a
// cancelled mailing, each counted once under its lane, with the retries,
// the send durations, the age of what is pending and the postings by status.
func TestMetricsCountWhatDeliveriesAndPostingsBecame(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	gateway := newHeldGateway(t)
	n := notifiertest.Start(t, notifiertest.WithClock(fake), notifiertest.WithConfig(func(c *config.Config) {
		c.SMS.URL = gateway.URL
		c.SMS.Timeout = time.Minute // the gateway holds its requests while the test cancels
	}))
	var postings []string
	create := func(token, body string) notifiertest.Posting {
		t.Helper()
		resp := n.Do(t, http.MethodPost, "/api/v1/postings", token, body)
		require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
		var p notifiertest.Posting
		resp.JSON(t, &p)
		postings = append(postings, p.ID)
		return p
	}

	// A sent email.
	confirmation := create(notifiertest.ServiceToken, seed(t, "posting_email_confirmation.json", "<uuid>", anna))
	require.Equal(t, "transactional", confirmation.Priority)
	require.Equal(t, 1, n.WaitForPosting(t, confirmation.ID).Counters.Sent)

	// A mailing with one opt-out.
	resp := n.Do(t, http.MethodPut, "/api/v1/users/"+boris+"/preferences", notifiertest.ManagerToken, `{"types": {"promo": false}}`)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	mailing := create(notifiertest.ManagerToken, `{
		"receivers": "http://auth/api/v1/users/?is_active=True&subscribed_series=`+seriesMetod+`",
		"template": "email/new_episode.md", "delivery_type": ["email"], "notification_type": "promo",
		"template_context": {"series": {"title": "Метод"}}
	}`)
	require.Equal(t, "bulk", mailing.Priority)
	done := n.WaitForPosting(t, mailing.ID)
	require.Equal(t, 1, done.Counters.Skipped)
	require.Equal(t, 1, done.Counters.Sent)

	// A delivery that fails every one of its 4 attempts.
	n.Outbox.FailNext(n.Config.Delivery.MaxAttempts, capture.ErrTransient)
	failing := create(notifiertest.ServiceToken, seed(t, "posting_email_confirmation.json", "<uuid>", vera))
	require.Equal(t, 1, n.WaitForPosting(t, failing.ID).Counters.Failed)

	waitForMetric(t, n, "notifier_deliveries_total", deliveriesWith(map[string]float64{
		series("notifier_deliveries_total", "channel", "email", "lane", "transactional", "result", "sent"):   1,
		series("notifier_deliveries_total", "channel", "email", "lane", "bulk", "result", "sent"):            1,
		series("notifier_deliveries_total", "channel", "email", "lane", "bulk", "result", "skipped"):         1,
		series("notifier_deliveries_total", "channel", "email", "lane", "transactional", "result", "failed"): 1,
	}))

	// A mailing by SMS, cancelled while the gateway holds its two messages.
	sms := create(notifiertest.ManagerToken, `{
		"receivers": "http://auth/api/v1/users/?is_active=True&subscribed_series=`+seriesMetod+`",
		"template": "sms/phone_confirmation.md", "delivery_type": ["sms"],
		"template_context": {"secret_code": "4321"}
	}`)
	require.Equal(t, "bulk", sms.Priority)
	gateway.waitForRequests(t, 2)
	fake.Advance(90 * time.Second)
	v := n.Metrics(t)
	require.Equal(t, 90.0, v[series("notifier_delivery_oldest_pending_age_seconds", "lane", "bulk")],
		"the batch has been pending since it was published")
	require.Equal(t, 0.0, v[series("notifier_delivery_oldest_pending_age_seconds", "lane", "transactional")])

	resp = n.Do(t, http.MethodPost, "/api/v1/postings/"+sms.ID+"/cancel", notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.Eventually(t, func() bool { return n.Posting(t, sms.ID).Counters.Cancelled == 2 }, 10*time.Second, 5*time.Millisecond)
	gateway.release()
	v = waitForMetric(t, n, "notifier_delivery_oldest_pending_age_seconds", metrics.Values{
		series("notifier_delivery_oldest_pending_age_seconds", "lane", "bulk"):          0,
		series("notifier_delivery_oldest_pending_age_seconds", "lane", "transactional"): 0,
	})

	require.Equal(t, deliveriesWith(map[string]float64{
		series("notifier_deliveries_total", "channel", "email", "lane", "transactional", "result", "sent"):   1,
		series("notifier_deliveries_total", "channel", "email", "lane", "bulk", "result", "sent"):            1,
		series("notifier_deliveries_total", "channel", "email", "lane", "bulk", "result", "skipped"):         1,
		series("notifier_deliveries_total", "channel", "email", "lane", "transactional", "result", "failed"): 1,
		series("notifier_deliveries_total", "channel", "sms", "lane", "bulk", "result", "cancelled"):         2,
	}), v.Named("notifier_deliveries_total"), "the sends the gateway took after the cancellation stay cancelled")
	require.Equal(t, retriesWith(map[string]float64{
		series("notifier_delivery_retries_total", "channel", "email", "class", "other"): 3,
	}), v.Named("notifier_delivery_retries_total"), "the capture channel's failures have no known class")
	require.Equal(t, metrics.Values{
		series("notifier_delivery_attempt_duration_seconds_count", "channel", "email"): 1 + 1 + 4,
		series("notifier_delivery_attempt_duration_seconds_count", "channel", "sms"):   2,
	}, v.Named("notifier_delivery_attempt_duration_seconds_count"))
	require.Empty(t, v.Named("notifier_outbox_oldest_age_seconds"), "no outbox in memory")

	// The postings by status, as the API tells them, once the gauge's
	// reading is stale.
	want := metrics.Values{}
	for _, status := range []string{"accepted", "scheduled", "dispatching", "completed", "cancelled", "expired", "failed"} {
		want[series("notifier_postings", "status", status)] = 0
	}
	for _, id := range postings {
		want[series("notifier_postings", "status", n.Posting(t, id).Status)]++
	}
	require.Equal(t, 1.0, want[series("notifier_postings", "status", "cancelled")])
	fake.Advance(metrics.DefaultTTL)
	require.Equal(t, want, n.Metrics(t).Named("notifier_postings"))

	for s := range v {
		for _, personal := range []string{"@", "+7900", anna, boris, vera, sms.ID} {
			require.NotContains(t, s, personal, "no address, user or posting in a label")
		}
	}
}

// A phone code whose first try fails, when the next could only come after
// its expiry: counted expired on the transactional lane, and not a retry.
func TestMetricsCountAPhoneCodeThatExpiredWhileRetrying(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithConfig(func(c *config.Config) {
		c.Delivery.Backoff = 5 * time.Minute // past the code's 120 s
		c.Delivery.MaxBackoff = 5 * time.Minute
	}))
	n.Outbox.FailNext(1, capture.ErrTransient)
	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		seed(t, "posting_phone_confirmation.json", "<uuid>", anna))
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	p := n.WaitForPosting(t, resp.Map(t)["id"].(string))
	require.Equal(t, 1, p.Counters.Expired)
	require.Empty(t, n.Outbox.Messages())

	v := waitForMetric(t, n, "notifier_deliveries_total", deliveriesWith(map[string]float64{
		series("notifier_deliveries_total", "channel", "sms", "lane", "transactional", "result", "expired"): 1,
	}))
	require.Equal(t, retriesWith(nil), v.Named("notifier_delivery_retries_total"))
	require.Equal(t, 1.0, v[series("notifier_delivery_attempt_duration_seconds_count", "channel", "sms")])
	require.Equal(t, 1.0, v[series("notifier_postings", "status", "expired")])
}

// The postings gauge counts the shared database, so every instance tells
// the same; with RabbitMQ, the outbox's age is there too.
func TestMetricsOfInstancesSharingPostgreSQL(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"sql", "amqp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			first := notifiertest.Start(t, notifiertest.WithTransport(transport))
			second := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithConfig(func(c *config.Config) {
				c.Database.URL = first.Config.Database.URL
				c.AMQP.Prefix = first.Config.AMQP.Prefix
				c.AMQP.Exchanges = first.Config.AMQP.Exchanges
			}))
			for i, n := range []*notifiertest.Notifier{first, second, second} {
				resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ManagerToken, `{
					"receivers": "http://auth/api/v1/users/?is_active=True", "template": "email/new_movies.md",
					"delivery_type": ["email"], "send_at": "`+fmt.Sprintf("2099-01-%02dT09:00:00Z", i+1)+`"
				}`)
				require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
			}
			resp := first.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
				seed(t, "posting_email_confirmation.json", "<uuid>", anna))
			require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
			require.Equal(t, "completed", first.WaitForPosting(t, resp.Map(t)["id"].(string)).Status)

			for name, n := range map[string]*notifiertest.Notifier{"first": first, "second": second} {
				v := n.Metrics(t)
				require.Equal(t, 3.0, v[series("notifier_postings", "status", "scheduled")], name)
				require.Equal(t, 1.0, v[series("notifier_postings", "status", "completed")], name)
				for _, l := range []string{"bulk", "transactional"} {
					require.Equal(t, transport == "amqp", v.Has(series("notifier_outbox_oldest_age_seconds", "lane", l)),
						name+": the outbox is RabbitMQ's, a table for each lane")
				}
			}
		})
	}
}
