package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// withFailover makes h's email go through a Failover of the given
// providers, on one worker.
func withFailover(t *testing.T, h *harness, providers ...app.Provider) {
	t.Helper()
	f, err := app.NewFailover("email", providers, nil)
	require.NoError(t, err)
	h.workers = startWorkers(t, 1, func() (app.Senders, error) { return app.Senders{"email": f, "sms": h.sms}, nil })
	h.handler = mustHandlerWithSleep(t, h, nil)
}

func TestADeliveryGoesToTheNextProviderWhenOneIsDownAndTheRecordNamesIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	primary := &sender{fail: func(app.Message) error { return down(0) }}
	backup := &sender{}
	withFailover(t, h, app.Provider{Name: "primary", Sender: primary}, app.Provider{Name: "backup", Sender: backup})

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"))))

	require.Equal(t, []string{"u1/email=sent"}, h.outcomes())
	row := h.rows(t, "p1")["u1/email"]
	require.Equal(t, "backup", row.Provider)
	require.Equal(t, 1, row.Attempts, "the failover is within one try")
	require.Empty(t, h.slept(), "no retry")
	require.Len(t, backup.messages(), 1)
}

func TestARefusedRecipientIsNotTriedOnTheNextProviderAndIsSuppressed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	refusing := &sender{fail: func(app.Message) error { return errNoSuchUser }}
	backup := &sender{}
	withFailover(t, h, app.Provider{Name: "primary", Sender: refusing}, app.Provider{Name: "backup", Sender: backup})

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"))))

	require.Equal(t, []string{"u1/email=failed"}, h.outcomes())
	row := h.rows(t, "p1")["u1/email"]
	require.Equal(t, "primary: smtp: sending SMTP RCPT TO command: 550 5.1.1", row.Error)
	require.Empty(t, row.Provider)
	require.Zero(t, backup.tries())
	require.Contains(t, h.entries(t), "email:u1@example.com")
}

func TestADeliveryIsRetriedWhenEveryProviderIsDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	primary := &sender{fail: func(app.Message) error { return down(0) }}
	backup := &sender{script: []error{errBusy, errBusy}}
	withFailover(t, h, app.Provider{Name: "primary", Sender: primary}, app.Provider{Name: "backup", Sender: backup})

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "Анна"))))

	require.Equal(t, []string{"u1/email=sent"}, h.outcomes())
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second}, h.slept(), "the retry policy applies")
	row := h.rows(t, "p1")["u1/email"]
	require.Equal(t, delivery.StatusSent, row.Status)
	require.Equal(t, 3, row.Attempts)
	require.Equal(t, "backup", row.Provider)
	require.Equal(t, 3, primary.tries())
}
