package notifiertest_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
)

// With its first SMTP server down, a mailing goes out through the next
// one: every delivery is sent, says so in the API, and the metrics count
// both servers.
func TestAMailingGoesThroughTheBackupServerWhenThePrimaryIsDown(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{config.TransportMemory, config.TransportSQL} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			down := ln.Addr().String()
			require.NoError(t, ln.Close())
			backup := testenv.StartSMTPSink(t)
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithConfig(func(c *config.Config) {
				c.SMTP.Name, c.SMTP.Addr, c.SMTP.TLS = "primary", down, "none"
				c.SMTP.Providers = []config.SMTPServer{{Name: "backup", Addr: backup.Addr()}}
				c.Delivery.Breaker.Failures = 1
			}))

			mailing := postAndWait(t, n, seed(t, "posting_new_movies.json"))

			require.Equal(t, "completed", mailing.Status)
			require.Positive(t, mailing.Counters.Sent)
			require.Zero(t, mailing.Counters.Failed, "%+v", mailing)
			require.Equal(t, mailing.Counters.Sent, backup.Count())
			resp := n.Do(t, http.MethodGet, "/api/v1/postings/"+mailing.ID+"/deliveries?status=sent", notifiertest.ManagerToken, nil)
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			var page struct {
				Items []struct {
					Channel  string `json:"channel"`
					Provider string `json:"provider"`
				} `json:"items"`
			}
			resp.JSON(t, &page)
			require.NotEmpty(t, page.Items)
			for _, d := range page.Items {
				want := "backup"
				if d.Channel == "sms" {
					want = "capture"
				}
				require.Equal(t, want, d.Provider, d.Channel)
			}

			v := n.Metrics(t)
			require.Equal(t, float64(backup.Count()),
				v[series("notifier_provider_sends_total", "channel", "email", "provider", "backup", "result", "sent")])
			require.Equal(t, float64(backup.Count()),
				v[series("notifier_provider_sends_total", "channel", "email", "provider", "primary", "result", "transient")]+
					v[series("notifier_provider_sends_total", "channel", "email", "provider", "primary", "result", "skipped")],
				"each send tried the primary, or skipped it")
			require.Equal(t, 2.0, v[series("notifier_provider_circuit_state", "channel", "email", "provider", "primary")],
				"its circuit opened at its first failure")
		})
	}
}
