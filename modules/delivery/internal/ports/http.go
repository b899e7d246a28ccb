// Package ports holds the delivery module's inbound adapters: the Watermill
// handlers of its command and event, and its HTTP operations.
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

// HTTP serves the delivery module's operations; it implements
// httpapi.Routes.
type HTTP struct {
	list    *app.ListDeliveriesHandler
	preview *app.PreviewTemplateHandler
}

var _ httpapi.Routes = (*HTTP)(nil)

// NewHTTP returns the HTTP port; both handlers are required.
func NewHTTP(list *app.ListDeliveriesHandler, preview *app.PreviewTemplateHandler) (*HTTP, error) {
	if list == nil || preview == nil {
		return nil, errors.New("new delivery http port: list and preview handlers are required")
	}
	return &HTTP{list: list, preview: preview}, nil
}

// RegisterRoutes adds the operations to api.
func (h *HTTP) RegisterRoutes(api huma.API) {
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-posting-deliveries",
		Method:      http.MethodGet,
		Path:        "/api/v1/postings/{id}/deliveries",
		Summary:     "List the deliveries of a posting",
		Description: "One item per (user, channel) of the posting, ordered by user id then channel. " +
			"Pass next_cursor back as cursor for the next page; it is absent on the last page. " +
			"A posting with no deliveries yet (or an unknown one) gives an empty list.",
		Tags:   []string{"Deliveries"},
		Errors: []int{http.StatusUnprocessableEntity},
	}, httpapi.RoleManager), h.listDeliveries)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "preview-template",
		Method:      http.MethodPost,
		Path:        "/api/v1/templates/preview",
		Summary:     "Render a template with a sample context",
		Description: "Renders the template as a delivery would, for a recipient of the given locale: the template's " +
			"file of that locale (email/new_movies.en-GB.md), else of its language (email/new_movies.en.md), else " +
			"of the default locale (templates.default_locale), else the bare file. Without a locale, the context " +
			"user's locale is used, else the default. The answer says which locale and file were rendered. The " +
			"context's \"user\" defaults to a sample recipient and \"posting_id\" to a sample id. A locale that is " +
			"not a BCP 47 language tag is refused with 422 naming body.locale; an unknown template, the name of one of " +
			"a template's locale files, or a broken template with 422 naming body.template (for a broken template " +
			"the detail names the file and line).",
		Tags: []string{"Templates"},
		RequestBody: &huma.RequestBody{
			Content: map[string]*huma.MediaType{"application/json": {Example: map[string]any{
				"template": "email/new_movies.md",
				"locale":   "en-GB",
				"context": map[string]any{
					"movies": []any{map[string]any{"title": "Stalker", "year": 1979, "url": "https://cinema.example.com/movies/1"}},
				},
			}}},
		},
		Errors: []int{http.StatusUnprocessableEntity},
	}, httpapi.RoleManager), h.previewTemplate)
}

// ListDeliveriesInput is the request of list-posting-deliveries.
type ListDeliveriesInput struct {
	ID     string `path:"id" minLength:"1" maxLength:"200" doc:"Posting ID"`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size"`
	Cursor string `query:"cursor" maxLength:"2000" doc:"The next_cursor of the previous page"`
	Status string `query:"status" enum:"pending,sent,failed,expired,skipped,cancelled" doc:"Only deliveries with this status"`
}

// DeliveryItem is one delivery of a posting.
type DeliveryItem struct {
	UserID   string     `json:"user_id" doc:"Recipient's user ID"`
	Channel  string     `json:"channel" doc:"Channel, such as email or sms"`
	Status   string     `json:"status" enum:"pending,sent,failed,expired,skipped,cancelled" doc:"Delivery status"`
	Attempts int        `json:"attempts" doc:"Sends tried so far"`
	Error    string     `json:"error,omitempty" doc:"Last error or the reason of the status"`
	SentAt   *time.Time `json:"sent_at,omitempty" doc:"When the channel accepted the message"`
	Provider string     `json:"provider,omitempty" doc:"Provider of the channel that sent the message (smtp.providers, sms.providers; capture for the capture channel); only once sent" example:"primary"`
}

// ListDeliveriesBody is the page returned by list-posting-deliveries.
type ListDeliveriesBody struct {
	Items      []DeliveryItem `json:"items"`
	NextCursor string         `json:"next_cursor,omitempty" doc:"Cursor of the next page; absent on the last page"`
}

// ListDeliveriesOutput is the response of list-posting-deliveries.
type ListDeliveriesOutput struct {
	Body ListDeliveriesBody
}

func (h *HTTP) listDeliveries(ctx context.Context, in *ListDeliveriesInput) (*ListDeliveriesOutput, error) {
	page, err := h.list.Handle(ctx, app.ListDeliveries{PostingID: in.ID, Status: in.Status, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, problem(err, map[string]string{"posting_id": "path.id", "status": "query.status", "limit": "query.limit", "cursor": "query.cursor"})
	}
	out := &ListDeliveriesOutput{Body: ListDeliveriesBody{Items: make([]DeliveryItem, 0, len(page.Items)), NextCursor: page.NextCursor}}
	for _, d := range page.Items {
		item := DeliveryItem{UserID: d.UserID, Channel: d.Channel, Status: d.Status, Attempts: d.Attempts, Error: d.Error, Provider: d.Provider}
		if !d.SentAt.IsZero() {
			at := d.SentAt
			item.SentAt = &at
		}
		out.Body.Items = append(out.Body.Items, item)
	}
	return out, nil
}

// PreviewTemplateInput is the request of preview-template.
type PreviewTemplateInput struct {
	Body struct {
		Template string         `json:"template" minLength:"1" maxLength:"200" example:"email/new_movies.md" doc:"Template name, under its channel directory, without a locale"`
		Locale   string         `json:"locale,omitempty" maxLength:"64" example:"en-GB" doc:"The recipient's locale, a BCP 47 tag (en-GB, en_GB and EN-gb alike); default: the context user's locale, else the default locale"`
		Context  map[string]any `json:"context,omitempty" doc:"Template context; user and posting_id default to samples"`
	}
}

// PreviewTemplateBody is a rendered template.
type PreviewTemplateBody struct {
	Subject string `json:"subject" doc:"Email subject; empty for SMS" example:"Just added: Stalker"`
	Text    string `json:"text" doc:"Plain text of an email, or the SMS"`
	HTML    string `json:"html" doc:"HTML of an email; empty for SMS"`
	Locale  string `json:"locale" doc:"The locale of the file rendered: the one asked for, its language, or the default locale" example:"en"`
	File    string `json:"file" doc:"The template file rendered" example:"email/new_movies.en.md"`
}

// PreviewTemplateOutput is the response of preview-template.
type PreviewTemplateOutput struct {
	Body PreviewTemplateBody
}

func (h *HTTP) previewTemplate(_ context.Context, in *PreviewTemplateInput) (*PreviewTemplateOutput, error) {
	out, err := h.preview.Handle(app.PreviewTemplate{Template: in.Body.Template, Locale: in.Body.Locale, Context: in.Body.Context})
	if err != nil {
		return nil, problem(err, map[string]string{"template": "body.template", "locale": "body.locale"})
	}
	return &PreviewTemplateOutput{Body: PreviewTemplateBody{
		Subject: out.Subject, Text: out.Text, HTML: out.HTML, Locale: out.Locale, File: out.File,
	}}, nil
}

// problem maps a use case error to an HTTP error: bad input is a 422 naming
// the field at its location in the request; anything else is returned as is
// and becomes a 500 whose text the server hides.
func problem(err error, locations map[string]string) error {
	var inv *app.InvalidInputError
	if !errors.As(err, &inv) {
		return err
	}
	loc, ok := locations[inv.Field]
	if !ok {
		loc = inv.Field
	}
	return huma.Error422UnprocessableEntity(inv.Error(), &huma.ErrorDetail{Location: loc, Message: inv.Message})
}
