package notifiertest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/notifiertest"
)

// Demo directory ids (configs/demo-directory.yaml).
const (
	anna         = "1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11" // subscribed to Кухня
	boris        = "2d6f3e5b-7c9a-4b2f-8e4d-6a8b9c0d1e22" // both series; review author
	vera         = "3e7a4f6c-8d0b-4c3a-9f5e-7b9c0d1e2f33" // no phone
	seriesKuhnya = "9e3a0f2c-4d6b-4c9a-9f1e-3b5c6d7e8f99"
	seriesMetod  = "a04b1a3d-5e7c-4dab-8a2f-4c6d7e8f9aaa"
	review       = "b15c2b4e-6f8d-4ebc-9b3a-5d7e8f9a0bbb"
	cheburashka  = "6b0d7c9f-1a3e-4f6d-8c8b-0e2f3a4b5c66"
)

// seed returns one of the brief's JSON bodies, verbatim but for the
// placeholders, which become ids of the demo directory.
func seed(t *testing.T, name string, placeholders ...string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "seed", name))
	require.NoError(t, err)
	body := string(raw)
	for i := 0; i+1 < len(placeholders); i += 2 {
		body = strings.ReplaceAll(body, placeholders[i], placeholders[i+1])
	}
	require.NotContains(t, body, "<uuid>")
	require.NotContains(t, body, "<id>")
	return body
}

func recipients(msgs []capture.Message) []string {
	var to []string
	for _, m := range msgs {
		to = append(to, m.To)
	}
	return to
}

// publishAndWait publishes an event over the intake topic and waits for the
// postings it makes, identified through POST /api/v1/events' key rules: the
// event carries an event_id here so the test knows its key.
func withEventID(t *testing.T, body, id string) string {
	t.Helper()
	return strings.Replace(body, "{", `{"event_id": "`+id+`",`, 1)
}

func TestUserSignedUpSendsTheWelcomeEmail(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-signup-1")

	n.PublishEvent(t, body)

	postings := n.WaitForPostingsFromEvent(t, "evt-signup-1", 1)
	require.Equal(t, "completed", postings[0].Status)
	require.Equal(t, "welcome", postings[0].NotificationType)
	require.Equal(t, 1, postings[0].Counters.Sent)
	msgs := n.Outbox.ByChannel("email")
	require.Len(t, msgs, 1)
	require.Equal(t, "anna@example.com", msgs[0].To)
	require.Contains(t, msgs[0].Text, "Анна")
	require.Contains(t, msgs[0].HTML, "<html")
}

func TestNewMoviesEventMailsEveryActiveOptedInUserWithTheMovies(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-movies-1")

	n.PublishEvent(t, body)

	postings := n.WaitForPostingsFromEvent(t, "evt-movies-1", 1)
	p := postings[0]
	require.Equal(t, "completed", p.Status)
	require.Equal(t, "new_movies", p.NotificationType)
	require.Equal(t, 3, p.Counters.Recipients, "Анна, Борис, Вера: active with email notifications on")
	require.Equal(t, 3, p.Counters.Sent)
	msgs := n.Outbox.ByChannel("email")
	require.ElementsMatch(t, []string{"anna@example.com", "boris@example.com", "vera@example.com"}, recipients(msgs))
	for _, m := range msgs {
		require.Contains(t, m.Text, "Чебурашка")
	}
}

func TestNewEpisodeEventMailsTheSeriesSubscribers(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := withEventID(t, seed(t, "event_new_episode.json", "<uuid>", seriesKuhnya), "evt-episode-1")

	n.PublishEvent(t, body)

	postings := n.WaitForPostingsFromEvent(t, "evt-episode-1", 1)
	require.Equal(t, "new_episode", postings[0].NotificationType, "%+v", postings[0])
	require.Equal(t, "completed", postings[0].Status, "%+v", postings[0])
	require.Equal(t, 2, postings[0].Counters.Sent, "%+v", postings[0])
	msgs := n.Outbox.ByChannel("email")
	require.ElementsMatch(t, []string{"anna@example.com", "boris@example.com"}, recipients(msgs))
	require.Contains(t, msgs[0].Subject, "Кухня", "the series was fetched from the catalogue")
	require.Contains(t, msgs[0].Text, "Сезон 6, серия 21")
}

func TestReactionsSummaryMailsTheReviewAuthor(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	body := withEventID(t, seed(t, "event_reactions_summary.json", "<id>", review), "evt-reactions-1")

	n.PublishEvent(t, body)

	postings := n.WaitForPostingsFromEvent(t, "evt-reactions-1", 1)
	require.Equal(t, "reactions", postings[0].NotificationType)
	msgs := n.Outbox.ByChannel("email")
	require.Len(t, msgs, 1)
	require.Equal(t, "boris@example.com", msgs[0].To)
	require.Contains(t, msgs[0].Text, "7")
}

func TestEmailConfirmationPostingFromAuth(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		seed(t, "posting_email_confirmation.json", "<uuid>", anna))

	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var created notifiertest.Posting
	resp.JSON(t, &created)
	p := n.WaitForPosting(t, created.ID)
	require.Equal(t, "completed", p.Status)
	require.Equal(t, "email_confirmation", p.NotificationType)
	msgs := n.Outbox.ByChannel("email")
	require.Len(t, msgs, 1)
	require.Equal(t, "anna@example.com", msgs[0].To)
	require.Contains(t, msgs[0].Text, "http://auth/abcDe4")
}

func TestPhoneCodePostingSendsTheCodeBySMS(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken,
		seed(t, "posting_phone_confirmation.json", "<uuid>", anna))

	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var created notifiertest.Posting
	resp.JSON(t, &created)
	require.Equal(t, "transactional", created.Priority)
	p := n.WaitForPosting(t, created.ID)
	require.Equal(t, "completed", p.Status)
	sms := n.Outbox.ByChannel("sms")
	require.Len(t, sms, 1)
	require.Equal(t, "+79001234501", sms[0].To)
	require.Contains(t, sms[0].Text, "1234")
	require.Empty(t, n.Outbox.ByChannel("email"))
}

func TestNewMoviesPostingFetchesTheMovieListOnce(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)

	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, seed(t, "posting_new_movies.json"))

	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var created notifiertest.Posting
	resp.JSON(t, &created)
	p := n.WaitForPosting(t, created.ID)
	require.Equal(t, 3, p.Counters.Sent)
	for _, m := range n.Outbox.ByChannel("email") {
		require.Contains(t, m.Text, "Чебурашка")
		require.Contains(t, m.Text, "Мастер и Маргарита")
		require.NotContains(t, m.Text, "Брат", "only new movies are listed")
	}
}

func TestManagersMailingToAGroupSkipsWhoOptedOutOfItsCategory(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	// Борис does not want promotions.
	resp := n.Do(t, http.MethodPut, "/api/v1/users/"+boris+"/preferences", notifiertest.ManagerToken,
		`{"types": {"promo": false}}`)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))

	resp = n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ManagerToken, `{
		"receivers": "http://auth/api/v1/users/?is_active=True&subscribed_series=`+seriesMetod+`",
		"template": "email/new_episode.md",
		"delivery_type": ["email"],
		"notification_type": "promo",
		"template_context": {"series": {"title": "Метод"}}
	}`)

	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var created notifiertest.Posting
	resp.JSON(t, &created)
	p := n.WaitForPosting(t, created.ID)
	require.Equal(t, "completed", p.Status)
	require.Equal(t, "bulk", created.Priority)
	require.Equal(t, 2, p.Counters.Recipients, "Борис and Дарья; Григорий is inactive")
	require.Equal(t, 1, p.Counters.Skipped)
	require.Equal(t, 1, p.Counters.Sent)
	require.Equal(t, []string{"darya@example.com"}, recipients(n.Outbox.ByChannel("email")))

	deliveries := n.Do(t, http.MethodGet, "/api/v1/postings/"+created.ID+"/deliveries", notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusOK, deliveries.Status, string(deliveries.Body))
	var list struct {
		Items []struct {
			UserID  string `json:"user_id"`
			Channel string `json:"channel"`
			Status  string `json:"status"`
		} `json:"items"`
	}
	deliveries.JSON(t, &list)
	statuses := map[string]string{}
	for _, d := range list.Items {
		statuses[d.UserID] = d.Status
	}
	require.Equal(t, "skipped", statuses[boris])
	require.Len(t, list.Items, 2)
}
