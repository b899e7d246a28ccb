package notifiertest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
)

// through rewrites a service URL to go through a proxy the test can cut.
func through(t *testing.T, rawURL string) (string, *testenv.Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	host := u.Host
	if u.Port() == "" {
		host += ":5672"
	}
	p := testenv.StartProxy(t, host)
	u.Host = p.Addr()
	return u.String(), p
}

func waitReady(t *testing.T, n *notifiertest.Notifier, want int, check string) {
	t.Helper()
	var last notifiertest.Response
	require.Eventually(t, func() bool {
		last = n.Do(t, http.MethodGet, "/readyz", "", nil)
		return last.Status == want && strings.Contains(string(last.Body), check)
	}, 30*time.Second, 20*time.Millisecond, "readyz: %d %s", last.Status, last.Body)
}

func TestReadinessFailsWhileTheDatabaseOrTheBrokerIsUnreachable(t *testing.T) {
	t.Parallel()
	var dbProxy, brokerProxy *testenv.Proxy
	n := notifiertest.Start(t, notifiertest.WithTransport("amqp"), notifiertest.WithConfig(func(c *config.Config) {
		c.Database.URL, dbProxy = through(t, c.Database.URL)
		c.AMQP.URL, brokerProxy = through(t, c.AMQP.URL)
	}))
	waitReady(t, n, http.StatusOK, "ok")

	dbProxy.Cut()
	waitReady(t, n, http.StatusServiceUnavailable, "database")
	dbProxy.Restore()
	waitReady(t, n, http.StatusOK, "ok")

	brokerProxy.Cut()
	waitReady(t, n, http.StatusServiceUnavailable, "broker")
	brokerProxy.Restore()
	waitReady(t, n, http.StatusOK, "ok")

	// And it works again: a welcome email goes out.
	n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-after-outage"))
	n.WaitForPostingsFromEvent(t, "evt-after-outage", 1)
	require.Len(t, n.Outbox.ByChannel("email"), 1)
}
