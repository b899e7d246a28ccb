package notifiertest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
)

// bigSignup returns a user_signed_up event of about size bytes, addresses
// in its padding.
func bigSignup(t *testing.T, size int) string {
	t.Helper()
	pad := strings.Repeat("anna@example.com ", size/17+1)
	return `{"from_service": "auth", "event": "user_signed_up", "details": {"username": "` + pad +
		`", "user": "https://auth/api/v1/users/` + anna + `/"}}`
}

func TestAnEventOverTheBodyCapIsPoisonedOnceNamingTheCapAndTheIntakeGoesOn(t *testing.T) {
	t.Parallel()
	const maxBody = 4096
	for _, transport := range []string{config.TransportMemory, config.TransportAMQP} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			logs := &logBuffer{}
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithLog(logs, "info"),
				notifiertest.WithConfig(func(c *config.Config) { c.Intake.MaxBody = maxBody }))
			big := bigSignup(t, maxBody)

			n.PublishEventWithID(t, big, "evt-too-big")
			poisoned := n.WaitForPoisoned(t, 1)
			n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-after-big"))
			n.WaitForPostingsFromEvent(t, "evt-after-big", 1)

			require.Contains(t, poisoned[0].Reason, "evt-too-big")
			require.Contains(t, poisoned[0].Reason,
				fmt.Sprintf("event body is over intake.max_body: %d bytes, the cap is %d", len(big), maxBody))
			require.NotContains(t, poisoned[0].Reason, "anna", "the reason names the cap, not the body")
			require.Len(t, logs.lines(`msg="event rejected"`), 1, "rejected once: not retried")
			require.Len(t, n.Poisoned(), 1)
			require.Len(t, n.Outbox.ByChannel("email"), 1, "the next event is delivered")
		})
	}
}

func TestTheHTTPIntakeRefusesWhatTheExchangeWouldWith413(t *testing.T) {
	t.Parallel()
	const maxBody = 4096
	n := notifiertest.Start(t, notifiertest.WithConfig(func(c *config.Config) { c.Intake.MaxBody = maxBody }))
	require.Greater(t, n.Config.HTTP.MaxBodyBytes, int64(maxBody), "the intake's cap is the smaller one")

	resp := n.Do(t, http.MethodPost, "/api/v1/events", notifiertest.ServiceToken, bigSignup(t, maxBody))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.Status, string(resp.Body))

	small := seed(t, "event_user_signed_up.json", "<uuid>", anna)
	resp = n.Do(t, http.MethodPost, "/api/v1/events", notifiertest.ServiceToken, small)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
}
