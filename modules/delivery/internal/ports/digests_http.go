package ports

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/httpapi"
)

// DigestsHTTP serves what is held for a user's digests; it implements
// httpapi.Routes.
type DigestsHTTP struct {
	list *app.ListOpenDigestsHandler
}

var _ httpapi.Routes = (*DigestsHTTP)(nil)

// NewDigestsHTTP returns the port; the handler is required.
func NewDigestsHTTP(list *app.ListOpenDigestsHandler) (*DigestsHTTP, error) {
	if list == nil {
		return nil, errors.New("new digests http port: list handler is required")
	}
	return &DigestsHTTP{list: list}, nil
}

// RegisterRoutes adds the operation to api, for managers and the user
// themselves.
func (h *DigestsHTTP) RegisterRoutes(api huma.API) {
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-user-digests",
		Method:      http.MethodGet,
		Path:        "/api/v1/users/{user_id}/digests",
		Summary:     "List what is held for a user's digests",
		Description: "The user's open digests: for each notification type configured as a digest " +
			"(delivery.digests) and channel, the deliveries held so far and when they go as one message. " +
			"At most one per type and channel, soonest due first; none for a user without (or an unknown " +
			"one). The held deliveries show as pending in the user's deliveries until the digest's message " +
			"ends them.",
		Tags:   []string{"Deliveries"},
		Errors: []int{http.StatusUnprocessableEntity},
	}, httpapi.RoleManager, httpapi.OrSelf("user_id")), h.listDigests)
}

// ListUserDigestsInput is the request of list-user-digests.
type ListUserDigestsInput struct {
	UserID string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"2d6f3e5b-7c9a-4b2f-8e4d-6a8b9c0d1e22"`
}

// UserDigestItem is one open digest.
type UserDigestItem struct {
	ID        string    `json:"id" doc:"The digest's id; its message's delivery has the posting id digest:<id>" example:"7d9f1c2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f"`
	Type      string    `json:"notification_type" doc:"The notification type held" example:"reactions"`
	Channel   string    `json:"channel" doc:"The channel it goes on" example:"email"`
	Held      int       `json:"held" doc:"Deliveries held so far" example:"3"`
	DueAt     time.Time `json:"due_at" doc:"When it goes (then at the next poll, delivery.deferred_poll_interval)" example:"2026-12-06T13:00:00Z"`
	CreatedAt time.Time `json:"created_at" doc:"When the first delivery was held" example:"2026-12-06T12:00:00Z"`
}

// ListUserDigestsBody is the response body of list-user-digests.
type ListUserDigestsBody struct {
	Items []UserDigestItem `json:"items"`
}

// ListUserDigestsOutput is the response of list-user-digests.
type ListUserDigestsOutput struct {
	Body ListUserDigestsBody
}

func (h *DigestsHTTP) listDigests(ctx context.Context, in *ListUserDigestsInput) (*ListUserDigestsOutput, error) {
	open, err := h.list.Handle(ctx, app.ListOpenDigests{UserID: in.UserID})
	if err != nil {
		return nil, problem(err, map[string]string{"user_id": "path.user_id"})
	}
	out := &ListUserDigestsOutput{Body: ListUserDigestsBody{Items: make([]UserDigestItem, 0, len(open))}}
	for _, d := range open {
		out.Body.Items = append(out.Body.Items, UserDigestItem{
			ID: d.ID, Type: d.Key.Type, Channel: d.Key.Channel, Held: d.Parts,
			DueAt: d.DueAt.UTC(), CreatedAt: d.CreatedAt.UTC(),
		})
	}
	return out, nil
}
