package capturesender_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/capturesender"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/clock"
)

func TestCaptureSenderKeepsEveryFieldAndClassifiesInjectedFailures(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	outbox := capture.NewOutbox(nil)
	s, err := capturesender.New(outbox, clock.NewFake(now))
	require.NoError(t, err)
	msg := app.Message{ID: "id@notifier", IdempotencyKey: "id", PostingID: "p1", UserID: "u1",
		Channel: "email", Template: "email/welcome.md", Locale: "en", To: "a@example.com", Subject: "S", Text: "T", HTML: "<p>T</p>"}

	outbox.FailNext(1, capture.ErrTransient)
	require.True(t, app.IsTransient(s.Send(context.Background(), msg)))
	outbox.FailNext(1, errors.New("mailbox unavailable"))
	err = s.Send(context.Background(), msg)
	require.Error(t, err)
	require.False(t, app.IsTransient(err))
	require.False(t, app.IsRecipientRefused(err), "a permanent failure is not a refusal of the address unless said")
	outbox.FailNext(1, capture.ErrRecipientRefused)
	err = s.Send(context.Background(), msg)
	require.True(t, app.IsRecipientRefused(err), "%v", err)
	require.False(t, app.IsTransient(err))

	require.NoError(t, s.Send(context.Background(), msg))
	require.Equal(t, []capture.Message{{ID: "id@notifier", Channel: "email", Template: "email/welcome.md", Locale: "en", To: "a@example.com", Subject: "S",
		Text: "T", HTML: "<p>T</p>", PostingID: "p1", UserID: "u1", At: now}}, outbox.Messages())
}
