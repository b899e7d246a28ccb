package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/eventintake/internal/intaketest"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
)

func TestInvalidEventsAreRejectedPermanentlyWithTheirReason(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ payload, reason string }{
		"malformed JSON":  {`{"from_service": "auth",`, "not valid JSON"},
		"unknown event":   {`{"from_service": "auth", "event": "user_deleted", "details": {}}`, `event: unknown event type "user_deleted"`},
		"missing details": {`{"from_service": "auth", "event": "user_signed_up"}`, "details: is required"},
		"details a list":  {`{"from_service": "auth", "event": "user_signed_up", "details": []}`, "details: must be an object"},
		"user missing":    {`{"from_service": "auth", "event": "user_signed_up", "details": {"username": "ivan@mail.ru"}}`, "details.user: is required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, sender, logs := newConsumer(t)

			err := c.Handle(context.Background(), []byte(tc.payload), "msg-bad")

			require.Error(t, err)
			require.True(t, messaging.IsPermanent(err), "an invalid event is never retried: %v", err)
			require.Contains(t, err.Error(), tc.reason)
			require.Contains(t, err.Error(), "msg-bad", "the reason names the event key")
			require.Empty(t, sender.sent())
			warnings := logs.at(slog.LevelWarn)
			require.Len(t, warnings, 1)
			require.Equal(t, "msg-bad", warnings[0]["event_key"])
			require.Contains(t, warnings[0]["reason"], tc.reason)
			require.NotContains(t, warnings[0]["reason"], "ivan", "no personal data in the log")
		})
	}
}

func TestEventFromAnUnexpectedServiceIsHandledWithAWarning(t *testing.T) {
	t.Parallel()
	c, sender, logs := newConsumer(t)
	payload := `{"from_service": "billing", "event": "new_movies", "details": {"movies": ["http://fastapi/api/v1/movies/1/"]}}`

	require.NoError(t, c.Handle(context.Background(), []byte(payload), "msg-7"))

	cmds := sender.sent()
	require.Len(t, cmds, 1)
	require.Equal(t, "billing", cmds[0].FromService, "the posting records who really sent it")
	warnings := logs.at(slog.LevelWarn)
	require.Len(t, warnings, 1)
	require.Equal(t, "billing", warnings[0]["from_service"])
	require.Equal(t, "cinema_scanner", warnings[0]["expected_service"])
	require.Equal(t, "msg-7", warnings[0]["event_key"])
}

func TestEventFromItsOwnServiceLogsNoWarning(t *testing.T) {
	t.Parallel()
	c, _, logs := newConsumer(t)
	require.NoError(t, c.Handle(context.Background(), intaketest.Event(t, "new_movies"), ""))
	require.Empty(t, logs.at(slog.LevelWarn))
}

func TestFailureToSendTheCommandsIsRetried(t *testing.T) {
	t.Parallel()
	sender := &recordingSender{err: errors.New("broker unavailable")}
	handlers, err := app.NewEventHandlers(defaultFlows(t), sender)
	require.NoError(t, err)
	c, err := app.NewConsumeEvent(slog.New(&logRecorder{}), maxBody, handlers...)
	require.NoError(t, err)

	err = c.Handle(context.Background(), intaketest.Event(t, "user_signed_up"), "msg-8")

	require.ErrorContains(t, err, "broker unavailable")
	require.False(t, messaging.IsPermanent(err), "a transport failure is worth retrying")
}

func TestConsumeEventNeedsExactlyOneHandlerPerKnownEventType(t *testing.T) {
	t.Parallel()
	logger := slog.New(&logRecorder{})
	handlers, err := app.NewEventHandlers(defaultFlows(t), &recordingSender{})
	require.NoError(t, err)

	_, err = app.NewConsumeEvent(logger, maxBody, handlers[1:]...)
	require.ErrorContains(t, err, "no handler for user_signed_up")
	_, err = app.NewConsumeEvent(logger, maxBody, append(handlers, handlers[0])...)
	require.ErrorContains(t, err, "both handle user_signed_up")
	_, err = app.NewConsumeEvent(nil, maxBody, handlers...)
	require.Error(t, err)
	_, err = app.NewConsumeEvent(logger, 0, handlers...)
	require.ErrorContains(t, err, "body cap")
}

func TestBrokenFlowsAreRefusedAtStartNamingTheSetting(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		change func(flows map[string]config.Flow)
		want   string
	}{
		"missing flow": {func(f map[string]config.Flow) { delete(f, "new_movies") }, "intake.flows.new_movies: missing"},
		"welcome to everyone": {func(f map[string]config.Flow) {
			fl := f["user_signed_up"]
			fl.Receivers = "http://auth/api/v1/users/?is_active=True"
			f["user_signed_up"] = fl
		}, "intake.flows.user_signed_up.receivers: must contain {user}"},
		"unknown placeholder": {func(f map[string]config.Flow) {
			fl := f["new_episode"]
			fl.Receivers = "http://auth/api/v1/users/?series={series}"
			f["new_episode"] = fl
		}, "intake.flows.new_episode.receivers: unknown placeholder {series}"},
		"unknown priority": {func(f map[string]config.Flow) {
			fl := f["reactions_summary"]
			fl.Priority = "urgent"
			f["reactions_summary"] = fl
		}, "intake.flows.reactions_summary.priority"},
		"no channels": {func(f map[string]config.Flow) {
			fl := f["new_movies"]
			fl.Channels = nil
			f["new_movies"] = fl
		}, "intake.flows.new_movies.channels"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			flows := defaultFlows(t)
			tc.change(flows)
			_, err := app.NewEventHandlers(flows, &recordingSender{})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestHandlersRefuseANilCommandSender(t *testing.T) {
	t.Parallel()
	_, err := app.NewEventHandlers(defaultFlows(t), nil)
	require.ErrorContains(t, err, "nil command sender")
}

// oversized returns a valid user_signed_up event of more than maxBody
// bytes, an address in its padding.
func oversized(t *testing.T) []byte {
	t.Helper()
	pad := strings.Repeat("anna.petrova@example.com ", maxBody/20)
	payload := []byte(`{"event_id": "evt-big", "from_service": "auth", "event": "user_signed_up", "details": {"username": "` +
		pad + `", "user": "http://auth/api/v1/users/1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11/"}}`)
	require.Greater(t, len(payload), maxBody)
	return payload
}

func TestAnEventOverTheBodyCapIsRejectedPermanentlyUnreadNamingTheCap(t *testing.T) {
	t.Parallel()
	c, sender, logs := newConsumer(t)
	payload := oversized(t)

	err := c.Handle(context.Background(), payload, "msg-big")

	require.Error(t, err)
	require.True(t, messaging.IsPermanent(err), "a body over the cap is never retried: %v", err)
	require.ErrorIs(t, err, domain.ErrTooLarge)
	require.Contains(t, err.Error(), "intake.max_body")
	require.Contains(t, err.Error(), fmt.Sprintf("%d bytes, the cap is %d", len(payload), maxBody))
	require.Contains(t, err.Error(), "msg-big", "the key is the message_id: the body is not read for its event_id")
	require.NotContains(t, err.Error(), "anna", "the reason names the cap, not the body")
	require.Empty(t, sender.sent())
	warnings := logs.at(slog.LevelWarn)
	require.Len(t, warnings, 1)
	require.Equal(t, "msg-big", warnings[0]["event_key"])
	require.NotContains(t, warnings[0]["reason"], "anna")

	require.Equal(t, domain.UnreadEventKey(payload, ""), c.Key(payload, ""), "without a message_id: the SHA-256")
	require.NoError(t, c.Handle(context.Background(), intaketest.Event(t, "user_signed_up"), ""), "the next event is handled")
}

func TestAnEventOfExactlyTheCapIsHandled(t *testing.T) {
	t.Parallel()
	c, sender, _ := newConsumer(t)
	payload := intaketest.Event(t, "user_signed_up")
	padded := append(bytes.TrimRight(payload, " \n"), bytes.Repeat([]byte(" "), maxBody)...)[:maxBody]

	require.NoError(t, c.Handle(context.Background(), padded, ""))
	require.Len(t, sender.sent(), 1)
	require.Equal(t, domain.EventKey(padded, ""), c.Key(padded, ""))
}

func TestTheLaneOfAnEventIsItsFlowsAndBadInputIsBulk(t *testing.T) {
	t.Parallel()
	handlers, err := app.NewEventHandlers(defaultFlows(t), &recordingSender{})
	require.NoError(t, err)
	consume, err := app.NewConsumeEvent(slog.New(slog.DiscardHandler), 1<<20, handlers...)
	require.NoError(t, err)

	require.Equal(t, lane.Transactional, consume.Lane(intaketest.Event(t, "user_signed_up")), "a welcome")
	for _, bulk := range []string{"new_movies", "new_episode", "reactions_summary"} {
		require.Equal(t, lane.Bulk, consume.Lane(intaketest.Event(t, bulk)), bulk)
	}
	for name, bad := range map[string]string{
		"malformed":    `{"event": "user_signed_up"`,
		"unknown type": `{"from_service": "auth", "event": "user_deleted", "details": {}}`,
		"not an event": `[]`,
	} {
		require.Equal(t, lane.Bulk, consume.Lane([]byte(bad)), "%s: left to the bulk intake, which poisons it", name)
	}
	small, err := app.NewConsumeEvent(slog.New(slog.DiscardHandler), 16, handlers...)
	require.NoError(t, err)
	require.Equal(t, lane.Bulk, small.Lane(intaketest.Event(t, "user_signed_up")), "over the body cap: not even read")
}
