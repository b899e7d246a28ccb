package poisonqueue_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/poisonqueue"
)

func poisoned(uuid, handler string, payload []byte) *message.Message {
	msg := message.NewMessage(uuid, payload)
	msg.Metadata.Set(middleware.ReasonForPoisonedKey, "unknown event auth/user_deleted")
	msg.Metadata.Set(middleware.PoisonedTopicKey, "notifier.events")
	msg.Metadata.Set(middleware.PoisonedHandlerKey, handler)
	msg.Metadata.Set(messaging.PoisonedAtKey, "2026-03-01T12:00:00.123456789Z")
	msg.Metadata.Set("lane", "bulk")
	return msg
}

func TestAPoisonedMessageBecomesAnEntryOfItsMessageAndHandler(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	m := poisonqueue.FromMessage(poisoned("9f0e8d7c", "eventintake.ConsumeEvents", []byte(`{"event":"user_deleted"}`)), now)

	require.Equal(t, poisonqueue.EntryID("9f0e8d7c", "eventintake.ConsumeEvents"), m.ID)
	require.True(t, poisonqueue.ValidID(m.ID))
	require.Equal(t, "9f0e8d7c", m.MessageID)
	require.Equal(t, "notifier.events", m.Topic)
	require.Equal(t, "eventintake.ConsumeEvents", m.Handler)
	require.Equal(t, "unknown event auth/user_deleted", m.Reason)
	require.Equal(t, `{"event":"user_deleted"}`, string(m.Payload))
	require.Equal(t, 24, m.PayloadSize)
	require.Equal(t, "bulk", m.Metadata["lane"])
	require.Equal(t, time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC), m.PoisonedAt, "the router's stamp")

	other := poisonqueue.FromMessage(poisoned("9f0e8d7c", "eventintake.ConsumeEvents.transactional", nil), now)
	require.NotEqual(t, m.ID, other.ID, "another handler's refusal of the same message is another entry")
	require.Equal(t, m.ID, poisonqueue.FromMessage(poisoned("9f0e8d7c", "eventintake.ConsumeEvents", nil), now).ID, "the same pair, the same id")

	unstamped := poisoned("x", "h", nil)
	unstamped.Metadata.Set(messaging.PoisonedAtKey, "")
	require.Equal(t, now, poisonqueue.FromMessage(unstamped, now).PoisonedAt, "poisoned by an older version: when it is seen")
	unstamped.Metadata.Set(messaging.PublishedAtKey, "2026-02-28T00:00:00Z")
	require.Equal(t, time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), poisonqueue.FromMessage(unstamped, now).PoisonedAt,
		"or when it was published, if that is earlier: never kept longer than the TTL")
	unstamped.Metadata.Set(messaging.PublishedAtKey, "2027-01-01T00:00:00Z")
	require.Equal(t, now, poisonqueue.FromMessage(unstamped, now).PoisonedAt, "a publication in the future is not believed")
}

func TestTextADatabaseCannotKeepIsReplacedButThePayloadIsKeptAsItIs(t *testing.T) {
	t.Parallel()
	msg := poisoned("x", "h", []byte{0xff, 0x00})
	msg.Metadata.Set(middleware.ReasonForPoisonedKey, "invalid character '\x00' in \xff")
	msg.Metadata.Set("k\x00", "v\xfe")
	m := poisonqueue.FromMessage(msg, time.Now())

	require.Equal(t, "invalid character '\uFFFD' in \uFFFD", m.Reason)
	require.Equal(t, "v\uFFFD", m.Metadata["k\uFFFD"])
	require.Equal(t, []byte{0xff, 0x00}, m.Payload)
}

func TestAPreviewIsOneLineOfEscapedTextCutAtAWholeCharacter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		payload   string
		max       int
		want      string
		truncated bool
	}{
		{"JSON as it is", `{"a": "b"}`, 256, `{"a": "b"}`, false},
		{"Cyrillic as it is", `{"name": "Анна"}`, 256, `{"name": "Анна"}`, false},
		{"line breaks and tabs escaped", "{\n\t\"a\": 1\r\n}", 256, `{\n\t"a": 1\r\n}`, false},
		{"a backslash doubled", `{"a": "\u00e9"}`, 256, `{"a": "\\u00e9"}`, false},
		{"control characters and bad bytes as \\xNN", "a\x00b\x1b\xffc", 256, `a\x00b\x1b\xffc`, false},
		{"cut", "abcdef", 4, "abcd", true},
		{"cut before a character it would split", "abcАнна", 4, "abc", true},
		{"cut after a whole character", "abАнна", 4, "abА", true},
		{"empty", "", 4, "", false},
	}
	for _, tt := range tests {
		got, truncated := poisonqueue.Preview([]byte(tt.payload), tt.max)
		require.Equal(t, tt.want, got, tt.name)
		require.Equal(t, tt.truncated, truncated, tt.name)
		require.NotContains(t, got, "\n", tt.name)
	}
	long, truncated := poisonqueue.Preview([]byte(strings.Repeat("я", 200)), poisonqueue.PreviewBytes)
	require.True(t, truncated)
	require.Equal(t, strings.Repeat("я", poisonqueue.PreviewBytes/2), long)
}

func TestAnEntryIDIsAUUID(t *testing.T) {
	t.Parallel()
	for id, valid := range map[string]bool{
		poisonqueue.EntryID("m", "h"):                  true,
		strings.ToUpper(poisonqueue.EntryID("m", "h")): true,
		"not-a-uuid": false,
		"":           false,
		"{" + poisonqueue.EntryID("m", "h") + "}":          false,
		"urn:uuid:" + poisonqueue.EntryID("m", "h")[:27]:   false,
		"5b2f4d1e8c3a5e7f9a1b2c3d4e5f6a7b":                 false,
		"5b2f4d1e-8c3a-5e7f-9a1b-2c3d4e5f6a7g":             false,
		"5b2f4d1e-8c3a-5e7f-9a1b-2c3d4e5f6a7b":             true,
		"5b2f4d1e-8c3a-5e7f-9a1b-2c3d4e5f6a7b\x00":         false,
		"5b2f4d1e-8c3a-5e7f-9a1b-2c3d4e5f6a7b; DROP TABLE": false,
	} {
		require.Equal(t, valid, poisonqueue.ValidID(id), "%q", id)
	}
}
