package ports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/httpapi"
)

// InboxHeartbeat is how often an idle inbox stream sends a comment line
// (": ping"), so that proxies keep it open and a gone client is noticed.
const InboxHeartbeat = 15 * time.Second

// InboxHTTP serves the users' in-app inboxes: the list, marking a message
// read and the stream of new messages. A user's own token may call them for
// that user; it implements httpapi.Routes.
type InboxHTTP struct {
	list      *app.ListInboxHandler
	read      *app.MarkInboxMessageReadHandler
	follow    *app.FollowInboxHandler
	heartbeat time.Duration
	logger    *slog.Logger
}

var _ httpapi.Routes = (*InboxHTTP)(nil)

// NewInboxHTTP returns the port, whose streams send a heartbeat every
// heartbeat (InboxHeartbeat when zero); every other argument is required.
func NewInboxHTTP(list *app.ListInboxHandler, read *app.MarkInboxMessageReadHandler, follow *app.FollowInboxHandler,
	heartbeat time.Duration, logger *slog.Logger,
) (*InboxHTTP, error) {
	if list == nil || read == nil || follow == nil || logger == nil {
		return nil, errors.New("new inbox http port: list, read and follow handlers and logger are required")
	}
	if heartbeat <= 0 {
		heartbeat = InboxHeartbeat
	}
	return &InboxHTTP{list: list, read: read, follow: follow, heartbeat: heartbeat, logger: logger}, nil
}

const inboxUserIDDoc = "The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)."

// RegisterRoutes adds the operations to api, for managers and for the user
// themselves.
func (h *InboxHTTP) RegisterRoutes(api huma.API) {
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-inbox",
		Method:      http.MethodGet,
		Path:        "/api/v1/users/{user_id}/inbox",
		Summary:     "List a user's in-app inbox",
		Description: "The messages the inapp channel delivered to the user, newest first, with the count of the " +
			"unread ones (all of them, not only this page's). A message past its posting's expiry is not listed. " +
			"Pass next_cursor back as cursor for the next page; it is absent on the last page. A user without " +
			"messages (or an unknown one) gives an empty list.",
		Tags:   []string{"Inbox"},
		Errors: []int{http.StatusUnprocessableEntity},
	}, httpapi.RoleManager, httpapi.OrSelf("user_id")), h.listInbox)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID:   "read-inbox-message",
		Method:        http.MethodPost,
		Path:          "/api/v1/users/{user_id}/inbox/{message_id}/read",
		Summary:       "Mark an in-app message read",
		Description:   "Idempotent: a message read already keeps the time it was first read. Answers with the message.",
		Tags:          []string{"Inbox"},
		DefaultStatus: http.StatusOK,
		Errors:        []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, httpapi.RoleManager, httpapi.OrSelf("user_id")), h.readMessage)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "stream-inbox",
		Method:      http.MethodGet,
		Path:        "/api/v1/users/{user_id}/inbox/stream",
		Summary:     "Stream a user's new in-app messages (Server-Sent Events)",
		Description: "A text/event-stream that sends one event per message arriving in the inbox, in order of " +
			"arrival: `event: message`, `id: <message id>`, `data: <the message as list-inbox lists it>`. An idle " +
			"stream sends a comment line `: ping` every 15 seconds. With the header Last-Event-ID (browsers' " +
			"EventSource sends it when it reconnects) the stream first sends the messages that arrived after " +
			"that one, if the inbox still holds it. Messages stored by another instance arrive within about a second.",
		Tags:   []string{"Inbox"},
		Errors: []int{http.StatusUnprocessableEntity},
		Responses: map[string]*huma.Response{
			"200": {
				Description: "The event stream",
				Content: map[string]*huma.MediaType{"text/event-stream": {
					Schema:  &huma.Schema{Type: huma.TypeString},
					Example: "event: message\nid: 5d41402abc4b2a76b9719d911017c592\ndata: {\"id\":\"5d41402abc4b2a76b9719d911017c592\",\"title\":\"New movies just added\",…}\n\n: ping\n\n",
				}},
			},
		},
	}, httpapi.RoleManager, httpapi.OrSelf("user_id")), h.streamInbox)
}

// InboxItem is one message of an inbox.
type InboxItem struct {
	ID               string     `json:"id" doc:"The message's id, stable for its delivery" example:"5d41402abc4b2a76b9719d911017c592"`
	PostingID        string     `json:"posting_id" doc:"The posting it came from" example:"0f8fad5b-d9cb-469f-a165-70867728950e"`
	NotificationType string     `json:"notification_type" doc:"The posting's notification type" example:"new_movies"`
	Title            string     `json:"title" doc:"The title (the in-app template's subject)" example:"New movies just added"`
	Body             string     `json:"body" doc:"The body, Markdown: render it with a Markdown renderer that drops raw HTML" example:"- [Stalker](https://cinema.example/movies/1) (1979)"`
	CreatedAt        time.Time  `json:"created_at" doc:"When it arrived in the inbox" example:"2026-03-01T12:00:00Z"`
	ReadAt           *time.Time `json:"read_at,omitempty" doc:"When the user first marked it read; absent while unread" example:"2026-03-01T12:05:00Z"`
	ExpiresAt        *time.Time `json:"expires_at,omitempty" doc:"When it stops being listed (the posting's expiry); absent when it has none" example:"2026-03-08T12:00:00Z"`
}

func inboxItem(m domain.InboxMessage) InboxItem {
	item := InboxItem{
		ID: m.ID, PostingID: m.PostingID, NotificationType: m.NotificationType, Title: m.Title, Body: m.Body,
		CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt,
	}
	if m.Read() {
		at := m.ReadAt
		item.ReadAt = &at
	}
	return item
}

// ListInboxInput is the request of list-inbox.
type ListInboxInput struct {
	UserID     string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11"`
	Limit      int    `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size"`
	Cursor     string `query:"cursor" maxLength:"2000" doc:"The next_cursor of the previous page"`
	UnreadOnly bool   `query:"unread_only" doc:"Only the messages not read yet"`
}

// ListInboxBody is the page returned by list-inbox.
type ListInboxBody struct {
	Items      []InboxItem `json:"items"`
	Unread     int         `json:"unread" doc:"How many of the user's messages are unread (all pages)" example:"3"`
	NextCursor string      `json:"next_cursor,omitempty" doc:"Cursor of the next page; absent on the last page"`
}

// ListInboxOutput is the response of list-inbox.
type ListInboxOutput struct {
	Body ListInboxBody
}

func (h *InboxHTTP) listInbox(ctx context.Context, in *ListInboxInput) (*ListInboxOutput, error) {
	page, err := h.list.Handle(ctx, app.ListInbox{UserID: in.UserID, UnreadOnly: in.UnreadOnly, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, problem(err, map[string]string{"user_id": "path.user_id", "limit": "query.limit", "cursor": "query.cursor"})
	}
	out := &ListInboxOutput{Body: ListInboxBody{Items: make([]InboxItem, 0, len(page.Items)), Unread: page.Unread, NextCursor: page.NextCursor}}
	for _, m := range page.Items {
		out.Body.Items = append(out.Body.Items, inboxItem(m))
	}
	return out, nil
}

// ReadInboxMessageInput is the request of read-inbox-message.
type ReadInboxMessageInput struct {
	UserID    string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11"`
	MessageID string `path:"message_id" minLength:"32" maxLength:"32" pattern:"^[0-9a-f]+$" doc:"The message's id (32 lowercase hex digits)" example:"5d41402abc4b2a76b9719d911017c592"`
}

// ReadInboxMessageOutput is the response of read-inbox-message.
type ReadInboxMessageOutput struct {
	Body InboxItem
}

func (h *InboxHTTP) readMessage(ctx context.Context, in *ReadInboxMessageInput) (*ReadInboxMessageOutput, error) {
	m, err := h.read.Handle(ctx, app.MarkInboxMessageRead{UserID: in.UserID, MessageID: in.MessageID})
	if errors.Is(err, app.ErrInboxMessageNotFound) {
		return nil, huma.Error404NotFound("no such message in this user's inbox (unknown or expired)")
	}
	if err != nil {
		return nil, problem(err, map[string]string{"user_id": "path.user_id", "message_id": "path.message_id"})
	}
	return &ReadInboxMessageOutput{Body: inboxItem(m)}, nil
}

// StreamInboxInput is the request of stream-inbox.
type StreamInboxInput struct {
	UserID      string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11"`
	LastEventID string `header:"Last-Event-ID" maxLength:"64" doc:"The id of the last message received: the stream first sends those that arrived after it"`
}

func (h *InboxHTTP) streamInbox(_ context.Context, in *StreamInboxInput) (*huma.StreamResponse, error) {
	q := app.FollowInbox{UserID: in.UserID, LastEventID: in.LastEventID}
	if err := h.follow.Validate(q); err != nil {
		return nil, problem(err, map[string]string{"user_id": "path.user_id", "Last-Event-ID": "header.Last-Event-ID"})
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "text/event-stream")
		hctx.SetHeader("Cache-Control", "no-cache")
		hctx.SetHeader("X-Accel-Buffering", "no") // no proxy buffering (nginx)
		hctx.SetStatus(http.StatusOK)
		w := hctx.BodyWriter()
		s := &eventStream{w: w, heartbeat: h.heartbeat}
		if rw, ok := w.(http.ResponseWriter); ok {
			s.rc = http.NewResponseController(rw)
		}
		// The stream ends when the client goes away or the server stops.
		ctx, cancel := context.WithCancel(hctx.Context())
		defer cancel()
		go func() {
			select {
			case <-httpapi.Stopping(ctx):
				cancel()
			case <-ctx.Done():
			}
		}()
		// The retry hint, and the headers out at once.
		if err := s.write("retry: 3000\n\n"); err != nil {
			return
		}
		if err := h.follow.Handle(ctx, q, s); err != nil && ctx.Err() == nil && !errors.Is(err, errStreamWrite) {
			h.logger.WarnContext(ctx, "inbox stream ended on an error", "user_id", in.UserID, "error", err)
		}
	}}, nil
}

// errStreamWrite is a write to the client that failed: it went away.
var errStreamWrite = errors.New("inbox stream: write failed")

// eventStream writes Server-Sent Events to one client (an app.InboxSink).
// Before each write it moves the connection's write deadline past the next
// heartbeat, so that the server's write timeout does not cut a long-lived
// stream, and it flushes each event.
type eventStream struct {
	w         io.Writer
	rc        *http.ResponseController
	heartbeat time.Duration
	lastWrite time.Time
}

// Message implements app.InboxSink.
func (s *eventStream) Message(m domain.InboxMessage) error {
	data, err := json.Marshal(inboxItem(m))
	if err != nil {
		return fmt.Errorf("inbox stream: encode message: %w", err)
	}
	return s.write("event: message\nid: " + m.ID + "\ndata: " + string(data) + "\n\n")
}

// Idle implements app.InboxSink: a heartbeat when the stream was quiet for
// a heartbeat's time.
func (s *eventStream) Idle() error {
	if time.Since(s.lastWrite) < s.heartbeat {
		return nil
	}
	return s.write(": ping\n\n")
}

func (s *eventStream) write(text string) error {
	if s.rc != nil {
		// Errors mean the writer cannot set deadlines (a test recorder):
		// then there is no deadline to move either.
		_ = s.rc.SetWriteDeadline(time.Now().Add(2*s.heartbeat + 5*time.Second))
	}
	if _, err := io.WriteString(s.w, text); err != nil {
		return errStreamWrite
	}
	if s.rc != nil {
		if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return errStreamWrite
		}
	} else if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	s.lastWrite = time.Now()
	return nil
}
