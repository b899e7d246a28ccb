package app_test

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// syncBuffer is a bytes.Buffer safe for the workers' concurrent logging.
type syncBuffer = testenv.SyncBuffer

func TestEachRecipientOfABatchGetsTheirLanguage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	logs := &syncBuffer{}
	handler, err := app.NewDeliverBatchHandler(h.store, renderer(t), h.workers, h.events, h.clock, h.policy,
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	withLocale := func(id, first, locale string) delivery.Recipient {
		r := recipient(id, first)
		r.Locale = locale
		return r
	}
	batch := emailBatch("p1",
		withLocale("u1", "Emma", "en-GB"),
		withLocale("u2", "Анна", "ru"),
		withLocale("u3", "Вера", ""),
		withLocale("u4", "Олег", "ru_RU.UTF-8"),
		withLocale("u5", "Jack", "EN_us"),
		withLocale("u6", "Глеб", "klingon, please"),
	)
	batch.Items = append(batch.Items, delivery.Item{Channel: "sms", Recipient: withLocale("u1", "Emma", "en-GB")})

	require.NoError(t, handler.Handle(context.Background(), batch))

	msgs := h.email.messages()
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].UserID < msgs[j].UserID })
	require.Len(t, msgs, 6)
	for i, want := range []struct{ subject, locale, footer string }{
		{"Hi Emma!", "en", "English footer"},
		{"Привет, Анна!", "ru", ""},
		{"Привет, Вера!", "ru", ""},
		{"Привет, Олег!", "ru", ""},
		{"Hi Jack!", "en", "English footer"},
		{"Привет, Глеб!", "ru", ""},
	} {
		m := msgs[i]
		require.Equal(t, want.subject, m.Subject, m.UserID)
		require.Equal(t, want.locale, m.Locale, m.UserID)
		require.Equal(t, "email/hello.md", m.Template, "the message names the template, whatever its file")
		require.Contains(t, m.HTML, `<html lang="`+want.locale+`">`, m.UserID)
		if want.footer != "" {
			require.Contains(t, m.HTML, want.footer, m.UserID)
		} else {
			require.NotContains(t, m.HTML, "English footer", m.UserID)
		}
	}
	sms := h.sms.messages()
	require.Len(t, sms, 1)
	require.Equal(t, "Hi Emma! Code 1234.", sms[0].Text)
	require.Equal(t, "en", sms[0].Locale)
	require.Equal(t, []string{"u1/email=sent", "u1/sms=sent", "u2/email=sent", "u3/email=sent", "u4/email=sent", "u5/email=sent", "u6/email=sent"},
		h.outcomes(), "a malformed locale fails nothing")

	log := logs.String()
	require.Contains(t, log, `msg="recipient's locale is not a language tag; the default locale's template used"`)
	require.Contains(t, log, "user_id=u6")
	require.NotContains(t, log, "klingon", "the directory's value is not logged")
	require.Equal(t, 1, strings.Count(log, "the default locale's template used"), "only the malformed one is logged:\n%s", log)
}
