package domain_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/eventintake/internal/intaketest"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestEventKeyIsTheEventIDWhenThePublisherGaveOne(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"event_id": "signup-1001", "from_service": "auth", "event": "user_signed_up", "details": {}}`)
	require.Equal(t, "signup-1001", domain.EventKey(payload, "amqp-msg-7"))
}

func TestEventKeyFallsBackToTheMessageID(t *testing.T) {
	t.Parallel()
	require.Equal(t, "amqp-msg-7", domain.EventKey(intaketest.Event(t, "new_movies"), "amqp-msg-7"))
}

func TestEventKeyFallsBackToTheSHA256OfTheBody(t *testing.T) {
	t.Parallel()
	payload := intaketest.Event(t, "new_movies")
	key := domain.EventKey(payload, "")
	require.Equal(t, sha256Hex(payload), key)
	require.Len(t, key, 64)
	require.Equal(t, key, domain.EventKey(append([]byte(nil), payload...), ""), "the same bytes give the same key")
	require.NotEqual(t, key, domain.EventKey(append([]byte(" "), payload...), ""), "other bytes give another key")
}

func TestEventKeySkipsIDsThatCannotBeKeys(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"numeric event_id":  `{"event_id": 42}`,
		"empty event_id":    `{"event_id": ""}`,
		"blank event_id":    `{"event_id": "   "}`,
		"overlong event_id": `{"event_id": "` + strings.Repeat("x", domain.MaxIDLength+1) + `"}`,
		"control character": `{"event_id": "a\nb"}`,
		"not json":          `{"event_id": "evt-1"`,
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, "msg-1", domain.EventKey([]byte(payload), "msg-1"))
			require.Equal(t, sha256Hex([]byte(payload)), domain.EventKey([]byte(payload), " "))
		})
	}
}
