package notifiertest_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/demodirectory"
)

// logBuffer is a log destination safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the lines holding msg.
func (b *logBuffer) lines(msg string) []string {
	var out []string
	for line := range strings.Lines(b.String()) {
		if strings.Contains(line, msg) {
			out = append(out, line)
		}
	}
	return out
}

func TestNoModuleLogsAFullEmailAddressOrPhoneNumber(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	n := notifiertest.Start(t, notifiertest.WithLog(logs, "debug"))
	demo, err := demodirectory.LoadDefault()
	require.NoError(t, err)
	var annaUser demodirectory.User
	for _, u := range demo.Users {
		if u.ID == anna {
			annaUser = u
		}
	}
	require.NotEmpty(t, annaUser.Email)

	// A welcome email from an event.
	n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-welcome"))
	n.WaitForPostingsFromEvent(t, "evt-welcome", 1)

	// A phone code.
	created := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		seed(t, "posting_phone_confirmation.json", "<uuid>", anna))
	require.Equal(t, http.StatusCreated, created.Status, string(created.Body))
	n.WaitForPosting(t, created.Map(t)["id"].(string))

	// A mailing to every active opted-in user.
	n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-mailing"))
	n.WaitForPostingsFromEvent(t, "evt-mailing", 1)

	// Delivery failures: retried, then permanent.
	n.Outbox.FailNext(1, capture.ErrTransient)
	n.Outbox.FailNext(1, errors.New("mailbox unavailable"))
	failing := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		seed(t, "posting_email_confirmation.json", "<uuid>", anna))
	require.Equal(t, http.StatusCreated, failing.Status, string(failing.Body))
	p := n.WaitForPosting(t, failing.Map(t)["id"].(string))
	require.Equal(t, 1, p.Counters.Failed, "the delivery failed: %+v", p)

	// A poisoned event full of addresses.
	n.PublishEvent(t, `{"from_service": "auth", "event": "user_signed_up", "details": {"username": "`+
		annaUser.Email+`", "email": "`+annaUser.Email+`", "phone": "`+annaUser.Phone+`"}}`)
	n.WaitForPoisoned(t, 1)

	out := logs.String()
	require.NotEmpty(t, logs.lines("level=DEBUG"), "logged at debug level")
	require.NotEmpty(t, logs.lines("message sent to the poison queue"))
	require.NotEmpty(t, logs.lines("delivery failed; will retry"))
	captured := logs.lines("message captured")
	require.GreaterOrEqual(t, len(captured), 4, "welcome, code, the mailing")
	require.Contains(t, out, "to=a***@example.com", "the masked address is logged")
	for _, u := range demo.Users {
		if u.Email != "" {
			require.NotContains(t, out, u.Email, "%s's email", u.ID)
		}
		if u.Phone != "" {
			require.NotContains(t, out, u.Phone, "%s's phone", u.ID)
			require.NotContains(t, out, strings.TrimPrefix(u.Phone, "+"), "%s's phone", u.ID)
		}
		for _, line := range captured {
			require.NotContains(t, line, u.FirstName, "the capture log shows no first name")
		}
	}
	for _, line := range captured {
		require.Contains(t, line, "template=")
		require.NotContains(t, line, "subject=")
	}
}
