package notifiertest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
)

func TestAPhoneCodeAskedForAgainIsSentAgain(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	code := seed(t, "posting_phone_confirmation.json", "<uuid>", anna) // "from_event": "event_id", no key
	newCode := strings.Replace(code, `"1234"`, `"5678"`, 1)

	first := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, code)
	second := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, newCode)
	repeat := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, newCode)

	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	require.Equal(t, http.StatusCreated, second.Status, "the new code is a new posting: %s", second.Body)
	require.Equal(t, http.StatusOK, repeat.Status, "the same body twice is one posting: %s", repeat.Body)
	require.Equal(t, second.Map(t)["id"], repeat.Map(t)["id"])
	n.WaitForPosting(t, first.Map(t)["id"].(string))
	n.WaitForPosting(t, second.Map(t)["id"].(string))
	sms := n.Outbox.ByChannel("sms")
	require.Len(t, sms, 2)
	texts := sms[0].Text + "\n" + sms[1].Text
	require.Contains(t, texts, "1234")
	require.Contains(t, texts, "5678")
}

func TestTheSamePostingKeyWithAnotherBodyIsRefused(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	headers := map[string]string{"Idempotency-Key": "code-anna"}
	code := seed(t, "posting_phone_confirmation.json", "<uuid>", anna)

	first := n.DoWithHeaders(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, code, headers)
	reused := n.DoWithHeaders(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		strings.Replace(code, `"1234"`, `"5678"`, 1), headers)

	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	require.Equal(t, http.StatusUnprocessableEntity, reused.Status, string(reused.Body))
	require.Equal(t, "application/problem+json", reused.Header.Get("Content-Type"))
	problem := reused.Map(t)
	require.Equal(t, "idempotency key already used with a different request", problem["detail"])
	require.Contains(t, string(reused.Body), "header.Idempotency-Key")
	n.WaitForPosting(t, first.Map(t)["id"].(string))
	sms := n.Outbox.ByChannel("sms")
	require.Len(t, sms, 1, "only the first code went out")
	require.Contains(t, sms[0].Text, "1234")
}

func TestPostingKeysAreScopedToTheCallersRole(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	headers := map[string]string{"Idempotency-Key": "confirm-anna"}
	body := seed(t, "posting_email_confirmation.json", "<uuid>", anna)

	service := n.DoWithHeaders(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body, headers)
	manager := n.DoWithHeaders(t, http.MethodPost, "/api/v1/postings", notifiertest.ManagerToken, body, headers)
	again := n.DoWithHeaders(t, http.MethodPost, "/api/v1/postings", notifiertest.ManagerToken, body, headers)

	require.Equal(t, http.StatusCreated, service.Status, string(service.Body))
	require.Equal(t, http.StatusCreated, manager.Status, "another role's key is another key: %s", manager.Body)
	require.Equal(t, http.StatusOK, again.Status, string(again.Body))
	require.NotEqual(t, service.Map(t)["id"], manager.Map(t)["id"])
	require.Equal(t, manager.Map(t)["id"], again.Map(t)["id"])
}

func TestAPostingKeyIsFreeAgainAfterTheRetentionAndTheOldPostingStays(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	n := notifiertest.Start(t, notifiertest.WithClock(fake),
		notifiertest.WithConfig(func(c *config.Config) { c.Posting.IdempotencyRetention = time.Hour }))
	headers := map[string]string{"Idempotency-Key": "confirm-anna"}
	body := seed(t, "posting_email_confirmation.json", "<uuid>", anna)
	post := func(b string) notifiertest.Response {
		return n.DoWithHeaders(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, b, headers)
	}

	first := post(body)
	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	oldID := first.Map(t)["id"].(string)
	n.WaitForPosting(t, oldID)
	fake.Advance(time.Hour - time.Second)
	require.Equal(t, http.StatusOK, post(body).Status, "within posting.idempotency_retention the key answers")

	fake.Advance(time.Second)
	second := post(strings.Replace(body, "abcDe4", "fghIj5", 1))
	require.Equal(t, http.StatusCreated, second.Status, "the key is free again: %s", second.Body)
	require.NotEqual(t, oldID, second.Map(t)["id"])
	n.WaitForPosting(t, second.Map(t)["id"].(string))

	require.Equal(t, "completed", n.Posting(t, oldID).Status, "the old posting stays readable")
	require.Len(t, n.PostingsFromEvent(t, "event_id"), 2, "and listed")
	require.Len(t, n.Outbox.ByChannel("email"), 2)
}
