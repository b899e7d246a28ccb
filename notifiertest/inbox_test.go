package notifiertest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
)

type inboxItem struct {
	ID               string     `json:"id"`
	PostingID        string     `json:"posting_id"`
	NotificationType string     `json:"notification_type"`
	Title            string     `json:"title"`
	Body             string     `json:"body"`
	ReadAt           *time.Time `json:"read_at"`
	ExpiresAt        *time.Time `json:"expires_at"`
}

type inboxPage struct {
	Items      []inboxItem `json:"items"`
	Unread     int         `json:"unread"`
	NextCursor string      `json:"next_cursor"`
}

// postInApp creates a posting of the in-app welcome template for user and
// waits until it is done; tag tells postings apart.
func postInApp(t *testing.T, n *notifiertest.Notifier, user, tag string, extra string) notifiertest.Posting {
	t.Helper()
	body := fmt.Sprintf(`{"from_event": "inbox-%s", "receivers": "http://auth/api/v1/users/?id=%s", "template": "inapp/welcome.md",
		"delivery_type": ["inapp"], "notification_type": "welcome", "template_context": {"username": "anna_k"}%s}`, tag, user, extra)
	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, body)
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	return n.WaitForPosting(t, resp.Map(t)["id"].(string))
}

func listInbox(t *testing.T, n *notifiertest.Notifier, user, token, query string) inboxPage {
	t.Helper()
	resp := n.Do(t, http.MethodGet, "/api/v1/users/"+user+"/inbox"+query, token, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var p inboxPage
	resp.JSON(t, &p)
	return p
}

// sseEvent is one event of a stream.
type sseEvent struct{ Event, ID, Data string }

// openStream opens user's inbox stream with token and returns its events
// (comments are dropped); it closes when the test ends.
func openStream(t *testing.T, n *notifiertest.Notifier, user, token, lastEventID string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/api/v1/users/"+user+"/inbox/stream", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	events := make(chan sseEvent, 16)
	if resp.StatusCode != http.StatusOK {
		close(events)
		return events, resp
	}
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return events, resp
}

func nextEvent(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		require.True(t, ok, "the stream ended")
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event on the stream")
		return sseEvent{}
	}
}

func TestAUserReadsTheirInAppInboxWithTheirOwnToken(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens())
	annas, veras := n.UserToken(t, anna), n.UserToken(t, vera)
	events, resp := openStream(t, n, anna, annas, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	p := postInApp(t, n, anna, "1", `, "expires_in": "3600"`)
	require.Equal(t, 1, p.Counters.Sent, "%+v", p)

	ev := nextEvent(t, events)
	assert.Equal(t, "message", ev.Event)
	var pushed inboxItem
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &pushed))
	assert.Equal(t, ev.ID, pushed.ID)
	assert.Equal(t, p.ID, pushed.PostingID)
	assert.Equal(t, "welcome", pushed.NotificationType)
	assert.Equal(t, "Добро пожаловать в онлайн-кинотеатр, Анна!", pushed.Title)
	assert.Contains(t, pushed.Body, "«Избранное»")
	assert.NotNil(t, pushed.ExpiresAt)

	page := listInbox(t, n, anna, annas, "")
	require.Len(t, page.Items, 1)
	assert.Equal(t, pushed, page.Items[0])
	assert.Equal(t, 1, page.Unread)
	assert.Equal(t, page, listInbox(t, n, anna, notifiertest.ManagerToken, ""), "a manager sees the same")
	assert.Empty(t, listInbox(t, n, vera, veras, "").Items, "Вера's inbox is her own")

	read := n.Do(t, http.MethodPost, "/api/v1/users/"+anna+"/inbox/"+pushed.ID+"/read", annas, nil)
	require.Equal(t, http.StatusOK, read.Status, string(read.Body))
	var marked inboxItem
	read.JSON(t, &marked)
	require.NotNil(t, marked.ReadAt)
	again := n.Do(t, http.MethodPost, "/api/v1/users/"+anna+"/inbox/"+pushed.ID+"/read", notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusOK, again.Status, "marking it again is fine")
	var same inboxItem
	again.JSON(t, &same)
	assert.Equal(t, marked.ReadAt, same.ReadAt, "it keeps the first read time")
	assert.Equal(t, 0, listInbox(t, n, anna, annas, "").Unread)
	assert.Empty(t, listInbox(t, n, anna, annas, "?unread_only=true").Items)

	// Another user's token gets 403 everywhere in Анна's inbox.
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/users/" + anna + "/inbox"},
		{http.MethodPost, "/api/v1/users/" + anna + "/inbox/" + pushed.ID + "/read"},
		{http.MethodGet, "/api/v1/users/" + anna + "/inbox/stream"},
	} {
		requireProblem(t, n.Do(t, tc.method, tc.path, veras, nil), http.StatusForbidden, veras)
	}
	requireProblem(t, n.Do(t, http.MethodGet, "/api/v1/users/"+anna+"/inbox", notifiertest.ServiceToken, nil), http.StatusForbidden, notifiertest.ServiceToken)
	requireProblem(t, n.Do(t, http.MethodGet, "/api/v1/users/"+anna+"/inbox", "", nil), http.StatusUnauthorized, annas)
}

func TestTheInboxStreamResumesAfterTheLastEventID(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens())
	annas := n.UserToken(t, anna)
	postInApp(t, n, anna, "first", "")
	first := listInbox(t, n, anna, annas, "").Items[0]
	postInApp(t, n, anna, "second", "")
	postInApp(t, n, anna, "third", "")
	page := listInbox(t, n, anna, annas, "")
	require.Len(t, page.Items, 3)

	events, resp := openStream(t, n, anna, annas, first.ID)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	assert.Equal(t, page.Items[1].ID, nextEvent(t, events).ID, "the messages after the last one seen, oldest first")
	assert.Equal(t, page.Items[0].ID, nextEvent(t, events).ID)
	// Then what arrives next, and nothing else.
	postInApp(t, n, anna, "fourth", "")
	fourth := nextEvent(t, events)
	assert.Equal(t, listInbox(t, n, anna, annas, "").Items[0].ID, fourth.ID)
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestAUserWhoTurnedInAppOffGetsNoInboxMessage(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens())
	annas := n.UserToken(t, anna)
	put := n.Do(t, http.MethodPatch, "/api/v1/users/"+anna+"/preferences", annas, `{"channels": {"inapp": false}}`)
	require.Equal(t, http.StatusOK, put.Status, string(put.Body))

	p := postInApp(t, n, anna, "off", "")

	assert.Equal(t, 1, p.Counters.Skipped, "%+v", p)
	assert.Empty(t, listInbox(t, n, anna, annas, "").Items)
}

func TestTheInboxRefusesBadInput(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens())
	annas := n.UserToken(t, anna)
	inbox := "/api/v1/users/" + anna + "/inbox"
	for _, tc := range []struct {
		name, method, path string
		headers            map[string]string
		status             int
	}{
		{"a cursor it did not issue", http.MethodGet, inbox + "?cursor=" + url.QueryEscape("not-a-cursor"), nil, http.StatusUnprocessableEntity},
		{"a limit out of range", http.MethodGet, inbox + "?limit=0", nil, http.StatusUnprocessableEntity},
		{"a malformed user id", http.MethodGet, "/api/v1/users/anna%40example.com/inbox", nil, http.StatusUnprocessableEntity},
		{"an unknown message", http.MethodPost, inbox + "/0123456789abcdef0123456789abcdef/read", nil, http.StatusNotFound},
		{"a malformed message id", http.MethodPost, inbox + "/not-a-message/read", nil, http.StatusUnprocessableEntity},
		{"a malformed Last-Event-ID", http.MethodGet, inbox + "/stream", map[string]string{"Last-Event-ID": "../etc"}, http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := n.DoWithHeaders(t, tc.method, tc.path, notifiertest.ManagerToken, nil, tc.headers)
			requireProblem(t, resp, tc.status, annas)
		})
	}
}

// A stream outlives the server's write timeout: each write moves the
// connection's deadline.
func TestTheInboxStreamOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens(), notifiertest.WithConfig(func(c *config.Config) {
		c.HTTP.WriteTimeout = 300 * time.Millisecond
	}))
	annas := n.UserToken(t, anna)
	events, resp := openStream(t, n, anna, annas, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	time.Sleep(time.Second) // past the write timeout

	postInApp(t, n, anna, "late", "")
	assert.Equal(t, listInbox(t, n, anna, annas, "").Items[0].ID, nextEvent(t, events).ID)
}

// On the production transports, the inbox is the PostgreSQL table and the
// stream still gets each message once.
func TestTheInboxWorksOnTheProductionTransports(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"sql", "amqp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			n := notifiertest.Start(t, notifiertest.WithTransport(transport), notifiertest.WithUserTokens())
			annas := n.UserToken(t, anna)
			events, resp := openStream(t, n, anna, annas, "")
			require.Equal(t, http.StatusOK, resp.StatusCode)

			p := postInApp(t, n, anna, transport, "")
			require.Equal(t, 1, p.Counters.Sent, "%+v", p)

			page := listInbox(t, n, anna, annas, "")
			require.Len(t, page.Items, 1)
			assert.Equal(t, page.Items[0].ID, nextEvent(t, events).ID)
			read := n.Do(t, http.MethodPost, "/api/v1/users/"+anna+"/inbox/"+page.Items[0].ID+"/read", annas, nil)
			require.Equal(t, http.StatusOK, read.Status, string(read.Body))
			assert.Equal(t, 0, listInbox(t, n, anna, annas, "").Unread)
		})
	}
}

// An event flow configured with the inapp channel fills the inboxes of its
// recipients with the in-app template of the same name.
func TestAFlowWithTheInAppChannelFillsTheInboxes(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t, notifiertest.WithUserTokens(), notifiertest.WithConfig(func(c *config.Config) {
		f := c.Intake.Flows["new_movies"]
		f.Channels = []string{"email", "inapp"}
		c.Intake.Flows["new_movies"] = f
	}))

	n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-inapp-movies"))
	p := n.WaitForPostingsFromEvent(t, "evt-inapp-movies", 1)[0]
	require.Equal(t, "completed", p.Status)

	page := listInbox(t, n, anna, n.UserToken(t, anna), "")
	require.Len(t, page.Items, 1)
	assert.Equal(t, "new_movies", page.Items[0].NotificationType)
	assert.NotEmpty(t, page.Items[0].Title)
	assert.Contains(t, page.Items[0].Body, "- ", "the movies, one a line")
	assert.NotEmpty(t, n.Outbox.ByChannel("email"), "email goes out as before")
}
