package capture_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/capture"
)

func TestWaitReturnsOnceEnoughMessagesArriveFromAnotherGoroutine(t *testing.T) {
	t.Parallel()
	outbox := capture.NewOutbox(nil)
	release := make(chan struct{})
	go func() {
		<-release
		for _, to := range []string{"a@example.com", "+79001234567", "b@example.com"} {
			_ = outbox.Send(context.Background(), capture.Message{Channel: "email", To: to})
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan []capture.Message)
	go func() {
		msgs, err := outbox.Wait(ctx, 3)
		if err != nil {
			msgs = nil
		}
		done <- msgs
	}()
	close(release)
	msgs := <-done
	require.Len(t, msgs, 3)
	require.Equal(t, "a@example.com", msgs[0].To, "oldest first")
	require.False(t, msgs[0].At.IsZero(), "stamped when captured")
}

func TestWaitGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	outbox := capture.NewOutbox(nil)
	require.NoError(t, outbox.Send(context.Background(), capture.Message{Channel: "sms", To: "+79001234567"}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msgs, err := outbox.Wait(ctx, 2)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, msgs, 1, "what was captured so far")
}

func TestMessagesAreCopiesFilteredByChannelAndResetForgetsThem(t *testing.T) {
	t.Parallel()
	outbox := capture.NewOutbox(nil)
	ctx := context.Background()
	require.NoError(t, outbox.Send(ctx, capture.Message{Channel: "email", To: "a@example.com", Subject: "Привет"}))
	require.NoError(t, outbox.Send(ctx, capture.Message{Channel: "sms", To: "+79001234567", Text: "Код: 1234"}))

	all := outbox.Messages()
	all[0].Subject = "changed"
	require.Equal(t, "Привет", outbox.Messages()[0].Subject, "callers get copies")
	require.Len(t, outbox.ByChannel("sms"), 1)
	require.Equal(t, "Код: 1234", outbox.ByChannel("sms")[0].Text)
	require.Empty(t, outbox.ByChannel("push"))

	outbox.Reset()
	require.Empty(t, outbox.Messages())
}

func TestFailNextFailsThatManySendsWithoutCapturing(t *testing.T) {
	t.Parallel()
	outbox := capture.NewOutbox(nil)
	ctx := context.Background()
	outbox.FailNext(2, capture.ErrTransient)
	msg := capture.Message{Channel: "email", To: "a@example.com"}
	require.ErrorIs(t, outbox.Send(ctx, msg), capture.ErrTransient)
	require.ErrorIs(t, outbox.Send(ctx, msg), capture.ErrTransient)
	require.NoError(t, outbox.Send(ctx, msg))
	require.Len(t, outbox.Messages(), 1)

	boom := errors.New("mailbox unavailable")
	outbox.FailNext(1, boom)
	outbox.Reset()
	require.NoError(t, outbox.Send(ctx, msg), "Reset drops pending failures too")
}

func TestCaptureLogsTheTemplateAndTheMaskedAddressNeverTheSubjectOrTheBody(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	outbox := capture.NewOutbox(slog.New(slog.NewTextHandler(&buf, nil)))
	require.NoError(t, outbox.Send(context.Background(), capture.Message{
		Channel: "email", Template: "email/welcome.md", Locale: "ru", To: "ivan.petrov@mail.ru",
		Subject: "Добро пожаловать, Иван!", Text: "Иван, рады вам", HTML: "<p>Иван</p>",
		PostingID: "p-1", ID: "abc@notifier",
	}))
	line := buf.String()
	require.Contains(t, line, "message captured")
	require.Contains(t, line, "channel=email")
	require.Contains(t, line, "template=email/welcome.md")
	require.Contains(t, line, "locale=ru")
	require.Contains(t, line, "to=i***@mail.ru")
	require.Contains(t, line, "posting_id=p-1")
	require.NotContains(t, line, "ivan.petrov")
	require.NotContains(t, line, "Иван", "the subject and the body hold the first name")
	require.NotContains(t, line, "subject")
}
