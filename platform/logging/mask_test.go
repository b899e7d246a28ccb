package logging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/logging"
)

const (
	anna  = "anna.petrova@example.com"
	phone = "+79001234567"
)

// jsonLogger returns a debug logger through the masking handler writing
// JSON lines to the returned buffer.
func jsonLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(logging.NewMaskingHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))), &buf
}

// lastLine decodes the last JSON line of buf.
func lastLine(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &m), buf.String())
	return m
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type valuer struct{ s string }

func (v valuer) LogValue() slog.Value { return slog.StringValue(v.s) }

func TestSensitiveKeysAreRecognisedWordByWordWhateverTheCase(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"email", "Email", "EMAIL", "emails", "recipient_email", "RecipientEmail",
		"to", "To", "to_address", "toAddress", "address", "billing-address", "phone", "phone_number",
		"phoneNumber", "user.phone", "reply to"} {
		require.True(t, logging.SensitiveKey(key), key)
	}
	for _, key := range []string{"", "token", "topic", "total", "retry_in", "subject", "template",
		"message_id", "user_id", "emailer", "telephone", "addr", "into", "mailing"} {
		require.False(t, logging.SensitiveKey(key), key)
	}
}

func TestTheHandlerMasksTheValuesOfSensitiveKeys(t *testing.T) {
	t.Parallel()
	logger, buf := jsonLogger()

	logger.Info("sent",
		"email", anna,
		"recipient_email", anna,
		"To", phone,
		"to_address", anna,
		"phone_number", int64(79001234567),
		"address", stringer{anna},
		"to", valuer{anna},
		"emails", []string{anna, "boris@example.org"},
		"phone", errors.New(phone),
		"Email", struct{ A string }{anna},
		"subject", "Hello",
		"token", "abc")

	line := lastLine(t, buf)
	require.Equal(t, "a***@example.com", line["email"])
	require.Equal(t, "a***@example.com", line["recipient_email"])
	require.Equal(t, "***67", line["To"])
	require.Equal(t, "a***@example.com", line["to_address"])
	require.Equal(t, "***67", line["phone_number"], "a number stringifies and is masked")
	require.Equal(t, "a***@example.com", line["address"], "a Stringer is masked")
	require.Equal(t, "a***@example.com", line["to"], "a LogValuer is resolved, then masked")
	require.Equal(t, []any{"a***@example.com", "b***@example.org"}, line["emails"], "each element of a []string")
	require.Equal(t, "***67", line["phone"], "an error is masked")
	require.Equal(t, "{***@example.com}", line["Email"], "anything else is formatted, then masked")
	require.Equal(t, "Hello", line["subject"], "other keys are left alone")
	require.Equal(t, "abc", line["token"])
	require.NotContains(t, buf.String(), "anna.petrova")
	require.NotContains(t, buf.String(), "boris@")
	require.NotContains(t, buf.String(), "9001234")
}

func TestValuesThatCannotHoldAnAddressAndEmptyOnesAreLeftAlone(t *testing.T) {
	t.Parallel()
	logger, buf := jsonLogger()

	logger.Info("preferences", "email", true, "phone_timeout", 3*time.Second, "to", "", "address", nil)

	line := lastLine(t, buf)
	require.Equal(t, true, line["email"], "a channel switch is not an address")
	require.Equal(t, float64(3*time.Second), line["phone_timeout"])
	require.Equal(t, "", line["to"], "an empty address says it is empty")
	require.Nil(t, line["address"])
}

func TestKeysInsideGroupsAndEveryValueOfASensitiveGroupAreMasked(t *testing.T) {
	t.Parallel()
	logger, buf := jsonLogger()

	logger.Info("recipient",
		slog.Group("user", "id", "u-1", "email", anna, slog.Group("contact", "phone", phone)),
		slog.Group("to", "primary", anna, "backup", phone),
		slog.Group("", "recipient_email", anna))

	line := lastLine(t, buf)
	user := line["user"].(map[string]any)
	require.Equal(t, "u-1", user["id"])
	require.Equal(t, "a***@example.com", user["email"])
	require.Equal(t, "***67", user["contact"].(map[string]any)["phone"], "groups nest")
	to := line["to"].(map[string]any)
	require.Equal(t, "a***@example.com", to["primary"], "a group named after an address masks all it holds")
	require.Equal(t, "***67", to["backup"])
	require.Equal(t, "a***@example.com", line["recipient_email"], "an inline group")
}

func TestWithAttrsAndWithGroupKeepTheirMeaningAndAreMasked(t *testing.T) {
	t.Parallel()
	logger, buf := jsonLogger()

	base := logger.With("module", "delivery", "email", anna)
	grouped := base.WithGroup("sent").With("to", phone, "id", "m-1")
	grouped.Info("captured", "subject", "Hi", "recipient_email", anna)
	base.WithGroup("address").Info("moved", "city", "Moscow")
	base.Info("alone")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	var first, second, third map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &second))
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &third))

	require.Equal(t, "delivery", first["module"])
	require.Equal(t, "a***@example.com", first["email"], "With outside the group")
	msg := first["sent"].(map[string]any)
	require.Equal(t, "***67", msg["to"], "With inside the group")
	require.Equal(t, "m-1", msg["id"])
	require.Equal(t, "Hi", msg["subject"], "the record's attributes go in the open group")
	require.Equal(t, "a***@example.com", msg["recipient_email"])
	require.Equal(t, "***ow", second["address"].(map[string]any)["city"], "a group named address masks what is logged in it")
	require.NotContains(t, third, "sent", "a derived logger leaves its parent alone")
	require.Equal(t, "a***@example.com", third["email"])
	require.NotContains(t, buf.String(), "anna.petrova")
	require.NotContains(t, buf.String(), phone)
}

func TestMaskedValuesAreNotMaskedAgain(t *testing.T) {
	t.Parallel()
	logger, buf := jsonLogger()

	logger.Info("captured", "to", logging.MaskAddress(anna), "phone", logging.MaskAddress(phone),
		"address", logging.MaskAddress("x"))

	line := lastLine(t, buf)
	require.Equal(t, "a***@example.com", line["to"])
	require.Equal(t, "***67", line["phone"])
	require.Equal(t, "***", line["address"])
	for _, v := range []string{anna, phone, "x", "a@b@c", "anna@x.ru, boris@y.ru"} {
		once := logging.MaskAddress(v)
		require.Equal(t, once, logging.MaskAddress(once), "masking %q twice", v)
	}
}

func TestAListOfEmailsIsMaskedAddressByAddress(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a***@x.ru, b***@y.ru", logging.MaskAddress("anna@x.ru, boris@y.ru"))
	require.Equal(t, "a***@x.ru, b***@y.ru", logging.MaskAddress("anna@x.ru;boris@y.ru"))
	require.Equal(t, "a***@b@c", logging.MaskAddress("a@b@c"))
	require.Empty(t, logging.MaskAddress(""))
}

func TestTheHandlerLeavesTheCallersRecordAlone(t *testing.T) {
	t.Parallel()
	var seen []slog.Attr
	h := logging.NewMaskingHandler(slog.NewTextHandler(&bytes.Buffer{}, nil))
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.String("email", anna))

	require.NoError(t, h.Handle(t.Context(), r))
	r.Attrs(func(a slog.Attr) bool { seen = append(seen, a); return true })
	require.Equal(t, anna, seen[0].Value.String())
}

func TestTheHandlerIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(logging.NewMaskingHandler(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil)))
	shared := logger.With("email", anna).WithGroup("g")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := shared.With("n", i)
			for range 50 {
				l.Info("x", "phone", phone, "to", anna)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 400, strings.Count(buf.String(), "\n"))
	require.NotContains(t, buf.String(), "anna.petrova")
	require.NotContains(t, buf.String(), phone)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNewMasksInBothFormats(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		logging.New(&buf, "debug", format).With("to", anna).Debug("m", "phone", phone)
		require.Contains(t, buf.String(), "a***@example.com", format)
		require.Contains(t, buf.String(), "***67", format)
		require.NotContains(t, buf.String(), "anna.petrova", format)
		require.NotContains(t, buf.String(), phone, format)
	}
}
