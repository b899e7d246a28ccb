package notifiertest_test

import (
	"bytes"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/demodirectory"
)

// lockedBuffer is a log sink safe for the Notifier's concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// byRecipient returns the messages keyed by address.
func byRecipient(msgs []capture.Message) map[string]capture.Message {
	out := make(map[string]capture.Message, len(msgs))
	for _, m := range msgs {
		out[m.To] = m
	}
	return out
}

var cyrillicLetter = regexp.MustCompile(`\p{Cyrillic}`)

// One new-movies mailing of the demo directory goes to Анна and Борис in
// Russian and to Вера (en-GB) in English, the layout's language and lang
// following, on every transport.
func TestOneMailingSpeaksEachRecipientsLanguage(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "amqp", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			logs := &lockedBuffer{}
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithLog(logs, "info"))
			body := withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-locales-"+transport)

			n.PublishEvent(t, body)

			p := n.WaitForPostingsFromEvent(t, "evt-locales-"+transport, 1)[0]
			require.Equal(t, "completed", p.Status)
			require.Equal(t, 3, p.Counters.Sent)
			msgs := byRecipient(n.Outbox.ByChannel("email"))
			require.Len(t, msgs, 3)
			for _, to := range []string{"anna@example.com", "boris@example.com"} {
				m := msgs[to]
				require.Equal(t, "ru", m.Locale, to)
				require.Equal(t, "email/new_movies.md", m.Template, to)
				require.Equal(t, "Новый фильм в каталоге: Чебурашка", m.Subject, to)
				require.Contains(t, m.Text, "Здравствуйте", to)
				require.Contains(t, m.HTML, `<html lang="ru">`, to)
				require.Contains(t, m.HTML, "Вы получили это письмо", to)
			}
			vera := msgs["vera@example.com"]
			require.Equal(t, "en", vera.Locale, "en-GB has no file of its own: its language's")
			require.Equal(t, "Just added: Чебурашка", vera.Subject)
			require.Contains(t, vera.Text, "Hi Вера, new movies have just arrived")
			require.Contains(t, vera.HTML, `<html lang="en">`)
			require.Contains(t, vera.HTML, "You received this email because you signed up for the online cinema with vera@example.com.")
			require.Empty(t, cyrillicLetter.FindAllString(
				regexp.MustCompile(`Чебурашка|Вера`).ReplaceAllString(vera.Subject+vera.Text+vera.HTML, ""), -1),
				"nothing Russian but the data")

			require.Contains(t, logs.String(), "locale=en")
			require.Contains(t, logs.String(), "locale=ru")
		})
	}
}

// A directory that gives a locale Notifier cannot read, or none, costs the
// recipient nothing but their language: they get the default locale's
// email, and the mailing completes.
func TestAMalformedOrMissingLocaleGetsTheDefaultLanguage(t *testing.T) {
	t.Parallel()
	users := demodirectory.GenerateUsers(4)
	users[0].Locale = "en_GB"
	users[1].Locale = "Klingon (please)"
	users[2].Locale = ""
	users[3].Locale = "EN-us"
	logs := &lockedBuffer{}
	n := notifiertest.Start(t, notifiertest.WithUsers(users...), notifiertest.WithLog(logs, "debug"))

	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ManagerToken, seed(t, "posting_new_movies.json"))

	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var created notifiertest.Posting
	resp.JSON(t, &created)
	p := n.WaitForPosting(t, created.ID)
	require.Equal(t, "completed", p.Status)
	require.Equal(t, 4, p.Counters.Sent)
	msgs := n.Outbox.ByChannel("email")
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].To < msgs[j].To })
	require.Equal(t, []string{"en", "ru", "ru", "en"}, []string{msgs[0].Locale, msgs[1].Locale, msgs[2].Locale, msgs[3].Locale})
	require.Contains(t, msgs[1].Subject, "Новые фильмы")
	require.Contains(t, msgs[3].Subject, "New movies")
	require.Contains(t, logs.String(), "recipient's locale is not a language tag")
	require.NotContains(t, logs.String(), "Klingon", "the directory's value stays out of the log")
}

// The preview of the running service renders a template in the locale asked
// for, and refuses one that is no language tag.
func TestThePreviewOfTheRunningServiceTakesALocale(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	resp := n.Do(t, http.MethodPost, "/api/v1/templates/preview", notifiertest.ManagerToken,
		`{"template": "email/welcome.md", "locale": "en_GB", "context": {"username": "emma"}}`)

	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	out := resp.Map(t)
	require.Equal(t, "en", out["locale"])
	require.Equal(t, "email/welcome.en.md", out["file"])
	require.Equal(t, "Welcome to the online cinema, Иван!", out["subject"])
	require.Contains(t, out["html"], `<html lang="en">`)

	resp = n.Do(t, http.MethodPost, "/api/v1/templates/preview", notifiertest.ManagerToken,
		`{"template": "email/welcome.md", "locale": "english please"}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.Status, string(resp.Body))
	require.Contains(t, string(resp.Body), `"location":"body.locale"`)
}
