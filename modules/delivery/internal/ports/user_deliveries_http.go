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

// UserDeliveriesHTTP serves a user's deliveries across postings (the
// console's user page); it implements httpapi.Routes.
type UserDeliveriesHTTP struct {
	list *app.ListUserDeliveriesHandler
}

var _ httpapi.Routes = (*UserDeliveriesHTTP)(nil)

// NewUserDeliveriesHTTP returns the port; the handler is required.
func NewUserDeliveriesHTTP(list *app.ListUserDeliveriesHandler) (*UserDeliveriesHTTP, error) {
	if list == nil {
		return nil, errors.New("new user deliveries http port: list handler is required")
	}
	return &UserDeliveriesHTTP{list: list}, nil
}

// RegisterRoutes adds the operation to api, for managers.
func (h *UserDeliveriesHTTP) RegisterRoutes(api huma.API) {
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-user-deliveries",
		Method:      http.MethodGet,
		Path:        "/api/v1/users/{user_id}/deliveries",
		Summary:     "List a user's deliveries across postings",
		Description: "One item per (posting, channel) the user was a recipient of, newest first: by when the " +
			"delivery was created (its posting's batch reached the delivery module), then posting and channel. " +
			"Filter by status and channel. Pass next_cursor back as cursor for the next page; it is absent on " +
			"the last page. A user without deliveries (or an unknown one) gives an empty list. Items never " +
			"carry the address.",
		Tags:   []string{"Deliveries"},
		Errors: []int{http.StatusUnprocessableEntity},
	}, httpapi.RoleManager), h.listUserDeliveries)
}

// ListUserDeliveriesInput is the request of list-user-deliveries.
type ListUserDeliveriesInput struct {
	UserID  string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11"`
	Limit   int    `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size"`
	Cursor  string `query:"cursor" maxLength:"2000" doc:"The next_cursor of the previous page"`
	Status  string `query:"status" enum:"pending,sent,failed,expired,skipped,cancelled" doc:"Only deliveries with this status"`
	Channel string `query:"channel" enum:"email,sms,inapp,webhook" doc:"Only deliveries of this channel"`
}

// UserDeliveryItem is one delivery of a user.
type UserDeliveryItem struct {
	PostingID string     `json:"posting_id" doc:"The posting delivered" example:"0f8fad5b-d9cb-469f-a165-70867728950e"`
	Channel   string     `json:"channel" doc:"Channel, such as email or sms" example:"email"`
	Status    string     `json:"status" enum:"pending,sent,failed,expired,skipped,cancelled" doc:"Delivery status" example:"sent"`
	Attempts  int        `json:"attempts" doc:"Sends tried so far" example:"1"`
	Error     string     `json:"error,omitempty" doc:"Last error or the reason of the status" example:"opted out: channels.email"`
	SentAt    *time.Time `json:"sent_at,omitempty" doc:"When the channel accepted the message" example:"2026-03-01T12:00:03Z"`
	Provider  string     `json:"provider,omitempty" doc:"Provider of the channel that sent the message (smtp.providers, sms.providers; capture for the capture channel); only once sent" example:"primary"`
	CreatedAt time.Time  `json:"created_at" doc:"When the delivery was created (the order of the list)" example:"2026-03-01T12:00:00Z"`
	UpdatedAt time.Time  `json:"updated_at" doc:"When the delivery last changed" example:"2026-03-01T12:00:03Z"`
}

// ListUserDeliveriesBody is the page returned by list-user-deliveries.
type ListUserDeliveriesBody struct {
	Items      []UserDeliveryItem `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty" doc:"Cursor of the next page; absent on the last page"`
}

// ListUserDeliveriesOutput is the response of list-user-deliveries.
type ListUserDeliveriesOutput struct {
	Body ListUserDeliveriesBody
}

func (h *UserDeliveriesHTTP) listUserDeliveries(ctx context.Context, in *ListUserDeliveriesInput) (*ListUserDeliveriesOutput, error) {
	page, err := h.list.Handle(ctx, app.ListUserDeliveries{
		UserID: in.UserID, Status: in.Status, Channel: in.Channel, Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, problem(err, map[string]string{
			"user_id": "path.user_id", "status": "query.status", "channel": "query.channel",
			"limit": "query.limit", "cursor": "query.cursor",
		})
	}
	out := &ListUserDeliveriesOutput{Body: ListUserDeliveriesBody{Items: make([]UserDeliveryItem, 0, len(page.Items)), NextCursor: page.NextCursor}}
	for _, d := range page.Items {
		item := UserDeliveryItem{
			PostingID: d.PostingID, Channel: d.Channel, Status: d.Status, Attempts: d.Attempts, Error: d.Error, Provider: d.Provider,
			CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		}
		if !d.SentAt.IsZero() {
			at := d.SentAt
			item.SentAt = &at
		}
		out.Body.Items = append(out.Body.Items, item)
	}
	return out, nil
}
