package ports

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/httpapi"
)

// SuppressionsHTTP serves the suppression list; it implements
// httpapi.Routes.
type SuppressionsHTTP struct {
	add    *app.AddSuppressionHandler
	list   *app.ListSuppressionsHandler
	remove *app.DeleteSuppressionHandler
}

var _ httpapi.Routes = (*SuppressionsHTTP)(nil)

// NewSuppressionsHTTP returns the port; every handler is required.
func NewSuppressionsHTTP(add *app.AddSuppressionHandler, list *app.ListSuppressionsHandler, remove *app.DeleteSuppressionHandler) (*SuppressionsHTTP, error) {
	if add == nil || list == nil || remove == nil {
		return nil, errors.New("new suppressions http port: add, list and delete handlers are required")
	}
	return &SuppressionsHTTP{add: add, list: list, remove: remove}, nil
}

// RegisterRoutes adds the operations to api: adding is open to services
// (providers' bounce and complaint feeds post there), reading and deleting
// to managers.
func (h *SuppressionsHTTP) RegisterRoutes(api huma.API) {
	tags := []string{"Suppressions"}
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "add-suppression",
		Method:      http.MethodPost,
		Path:        "/api/v1/suppressions",
		Summary:     "Put an address on the suppression list",
		Description: "No later delivery is sent to a suppressed address, mandatory ones included: it is recorded " +
			"skipped with the reason \"suppressed\". For providers' bounce and complaint feeds and operators; " +
			"addresses a channel refuses for good (an SMTP 5xx to RCPT TO about the mailbox, the SMS gateway's " +
			"invalid_number) are added by the deliveries themselves. Emails are compared lowercased, phone numbers " +
			"without spaces, dashes, dots and parentheses. 201 with the new entry; 200 with the existing one, " +
			"unchanged (its first reason and time stand), when the address is on the list already.",
		Tags:          tags,
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusUnprocessableEntity},
	}, httpapi.RoleService), h.addSuppression)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-suppressions",
		Method:      http.MethodGet,
		Path:        "/api/v1/suppressions",
		Summary:     "List the suppression list",
		Description: "Newest first. Filter by one address (normalized as the list is; its channel inferred " +
			"unless channel is given) or by channel. Pass next_cursor back as cursor for the next page; it is " +
			"absent on the last page.",
		Tags:   tags,
		Errors: []int{http.StatusUnprocessableEntity},
	}, httpapi.RoleManager), h.listSuppressions)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "delete-suppression",
		Method:      http.MethodDelete,
		Path:        "/api/v1/suppressions/{address}",
		Summary:     "Take an address off the suppression list",
		Description: "Later postings are delivered to the address again. The address is URL-escaped in the path " +
			"(anna%40example.com, %2B79001234567) and normalized as the list is. 204 when it was on the list, " +
			"404 when it was not.",
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, httpapi.RoleManager), h.deleteSuppression)
}

// SuppressionItem is one entry of the suppression list.
type SuppressionItem struct {
	Address   string    `json:"address" doc:"The address, normalized: an email lowercased, a phone number without separators" example:"anna@example.com"`
	Channel   string    `json:"channel" enum:"email,sms" doc:"The channel of the address" example:"email"`
	Reason    string    `json:"reason" doc:"Why it is suppressed: the channel's refusal or what the caller said" example:"smtp: sending SMTP RCPT TO command: 550 5.1.1"`
	Source    string    `json:"source" enum:"delivery,api" doc:"delivery: the channel refused the address when a delivery was sent; api: posted to this API" example:"delivery"`
	CreatedAt time.Time `json:"created_at" doc:"When it was put on the list" example:"2026-03-01T12:00:00Z"`
}

func itemOf(e domain.Suppression) SuppressionItem {
	return SuppressionItem{Address: e.Value, Channel: e.Channel, Reason: e.Reason, Source: e.Source, CreatedAt: e.CreatedAt}
}

// AddSuppressionInput is the request of add-suppression.
type AddSuppressionInput struct {
	Body struct {
		Address string `json:"address" minLength:"1" maxLength:"320" doc:"An email address (local@domain, no display name) or a phone number (an optional + and 3 to 15 digits; spaces, dashes, dots and parentheses are ignored)" example:"anna@example.com"`
		Channel string `json:"channel,omitempty" enum:"email,sms" doc:"The channel of the address; when left out, email if the address holds an @, else sms" example:"email"`
		Reason  string `json:"reason" minLength:"1" maxLength:"500" doc:"Why, such as bounce, complaint or free text (at most 500 characters)" example:"bounce"`
	}
}

// AddSuppressionOutput is the response of add-suppression.
type AddSuppressionOutput struct {
	Status int
	Body   SuppressionItem
}

func (h *SuppressionsHTTP) addSuppression(ctx context.Context, in *AddSuppressionInput) (*AddSuppressionOutput, error) {
	e, added, err := h.add.Handle(ctx, app.AddSuppression{Address: in.Body.Address, Channel: in.Body.Channel, Reason: in.Body.Reason})
	if err != nil {
		return nil, problem(err, map[string]string{"address": "body.address", "channel": "body.channel", "reason": "body.reason"})
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	return &AddSuppressionOutput{Status: status, Body: itemOf(e)}, nil
}

// ListSuppressionsInput is the request of list-suppressions.
type ListSuppressionsInput struct {
	Address string `query:"address" maxLength:"320" doc:"Only this address (an email address or a phone number)" example:"anna@example.com"`
	Channel string `query:"channel" enum:"email,sms" doc:"Only entries of this channel" example:"email"`
	Limit   int    `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size" example:"100"`
	Cursor  string `query:"cursor" maxLength:"2000" doc:"The next_cursor of the previous page" example:"MTc3MjM2NjQwMDAwMDAwMABlbWFpbABhbm5hQGV4YW1wbGUuY29t"`
}

// ListSuppressionsBody is a page of the suppression list.
type ListSuppressionsBody struct {
	Items      []SuppressionItem `json:"items" doc:"The entries, newest first"`
	NextCursor string            `json:"next_cursor,omitempty" doc:"Cursor of the next page; absent on the last page" example:"MTc3MjM2NjQwMDAwMDAwMABlbWFpbABhbm5hQGV4YW1wbGUuY29t"`
}

// ListSuppressionsOutput is the response of list-suppressions.
type ListSuppressionsOutput struct {
	Body ListSuppressionsBody
}

func (h *SuppressionsHTTP) listSuppressions(ctx context.Context, in *ListSuppressionsInput) (*ListSuppressionsOutput, error) {
	page, err := h.list.Handle(ctx, app.ListSuppressions{Address: in.Address, Channel: in.Channel, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, problem(err, map[string]string{"address": "query.address", "channel": "query.channel", "limit": "query.limit", "cursor": "query.cursor"})
	}
	out := &ListSuppressionsOutput{Body: ListSuppressionsBody{Items: make([]SuppressionItem, 0, len(page.Items)), NextCursor: page.NextCursor}}
	for _, e := range page.Items {
		out.Body.Items = append(out.Body.Items, itemOf(e))
	}
	return out, nil
}

// DeleteSuppressionInput is the request of delete-suppression.
type DeleteSuppressionInput struct {
	Address string `path:"address" maxLength:"320" doc:"The address, URL-escaped" example:"anna@example.com"`
	Channel string `query:"channel" enum:"email,sms" doc:"The channel of the address; when left out, email if it holds an @, else sms" example:"email"`
}

func (h *SuppressionsHTTP) deleteSuppression(ctx context.Context, in *DeleteSuppressionInput) (*struct{}, error) {
	err := h.remove.Handle(ctx, app.DeleteSuppression{Address: in.Address, Channel: in.Channel})
	if errors.Is(err, app.ErrSuppressionNotFound) {
		return nil, huma.Error404NotFound("the address is not on the suppression list")
	}
	if err != nil {
		return nil, problem(err, map[string]string{"address": "path.address", "channel": "query.channel"})
	}
	return nil, nil
}
