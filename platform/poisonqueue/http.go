package poisonqueue

import (
	"context"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/platform/httpapi"
)

// HTTP serves the poison queue to admins (the console); it implements
// httpapi.Routes.
type HTTP struct {
	list    *ListPoisonedHandler
	get     *GetPoisonedHandler
	requeue *RequeuePoisonedHandler
	discard *DiscardPoisonedHandler
}

var _ httpapi.Routes = (*HTTP)(nil)

// NewHTTP returns the port; every handler is required.
func NewHTTP(list *ListPoisonedHandler, get *GetPoisonedHandler, requeue *RequeuePoisonedHandler, discard *DiscardPoisonedHandler) (*HTTP, error) {
	if list == nil || get == nil || requeue == nil || discard == nil {
		return nil, errors.New("new poison queue http port: list, get, requeue and discard handlers are required")
	}
	return &HTTP{list: list, get: get, requeue: requeue, discard: discard}, nil
}

const retentionNote = " Poisoned messages can hold emails and phone numbers: each is kept for amqp.poison_ttl " +
	"(7 days by default) from when it was poisoned, then deleted."

// RegisterRoutes adds the operations to api, for admins.
func (h *HTTP) RegisterRoutes(api huma.API) {
	tags := []string{"Poison queue"}
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-poisoned-messages",
		Method:      http.MethodGet,
		Path:        "/api/v1/poison",
		Summary:     "List the messages the handlers gave up on",
		Description: "One item per message and handler that refused it (after its retries, or at once for a " +
			"permanent error), newest first, with the reason and the first 256 bytes of the payload as one line " +
			"of text (a backslash doubled; tab, newline and carriage return as \\t \\n \\r; other control " +
			"characters and bytes that are not UTF-8 as \\xNN). Filter by handler or topic. Pass next_cursor " +
			"back as cursor for the next page; it is absent on the last page." + retentionNote,
		Tags:   tags,
		Errors: []int{http.StatusUnprocessableEntity},
	}, httpapi.RoleAdmin), h.listPoisoned)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "get-poisoned-message",
		Method:      http.MethodGet,
		Path:        "/api/v1/poison/{id}",
		Summary:     "Show a poisoned message whole",
		Description: "The item of the list with the whole payload (payload_text when it is UTF-8, else " +
			"payload_base64) and the metadata, the poison queue's own keys included (reason_poisoned, " +
			"topic_poisoned, handler_poisoned, poisoned_at)." + retentionNote,
		Tags:   tags,
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, httpapi.RoleAdmin), h.getPoisoned)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "requeue-poisoned-message",
		Method:      http.MethodPost,
		Path:        "/api/v1/poison/{id}/requeue",
		Summary:     "Give a poisoned message to its handler again",
		Description: "Once the cause is fixed (an upstream back, a template deployed): publishes the message " +
			"again to the topic it came from, with its id, payload and metadata, for the handler that refused it " +
			"alone (the topic's other handlers had handled it and let it pass), and deletes the entry, in one " +
			"transaction. 202: it is on its way; if it fails again it comes back to this list, poisoned anew. " +
			"404 when the entry is gone (requeued or discarded already: a repeat sends nothing). 409, keeping " +
			"the entry, when the handler that refused it does not run in this version or the message names no topic." +
			retentionNote,
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, httpapi.RoleAdmin), h.requeuePoisoned)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "discard-poisoned-message",
		Method:      http.MethodDelete,
		Path:        "/api/v1/poison/{id}",
		Summary:     "Discard a poisoned message",
		Description: "Deletes the entry: the message is not handled. 204; 404 when the entry is gone " +
			"(requeued or discarded already). On RabbitMQ a copy stays in the queue notifier.poison_retained " +
			"until amqp.poison_ttl.",
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, httpapi.RoleAdmin), h.discardPoisoned)
}

// ListPoisonedInput is the request of list-poisoned-messages.
type ListPoisonedInput struct {
	Handler string `query:"handler" maxLength:"300" doc:"Only messages refused by this handler" example:"eventintake.ConsumeEvents"`
	Topic   string `query:"topic" maxLength:"300" doc:"Only messages from this topic" example:"notifier.events"`
	Limit   int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Page size"`
	Cursor  string `query:"cursor" maxLength:"2000" doc:"The next_cursor of the previous page"`
}

// PoisonedItem is a poisoned message in the list.
type PoisonedItem struct {
	ID               string    `json:"id" format:"uuid" doc:"The entry's id: one per message and handler" example:"5b2f4d1e-8c3a-5e7f-9a1b-2c3d4e5f6a7b"`
	MessageID        string    `json:"message_id" doc:"The message's id (its Watermill UUID; on RabbitMQ its message_id), as the log names it" example:"9f0e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"`
	Topic            string    `json:"topic" doc:"The topic it came from, where a requeue puts it back" example:"notifier.events"`
	Handler          string    `json:"handler" doc:"The handler that refused it" example:"eventintake.ConsumeEvents"`
	Reason           string    `json:"reason" doc:"Why the handler gave up" example:"unknown event auth/user_deleted"`
	PoisonedAt       time.Time `json:"poisoned_at" doc:"When it was poisoned; it is deleted amqp.poison_ttl later" example:"2026-03-01T12:00:00Z"`
	PayloadPreview   string    `json:"payload_preview" doc:"The first 256 bytes of the payload as one line of escaped text" example:"{\"from_service\": \"auth\", \"event\": \"user_deleted\", \"details\": {}}"`
	PayloadSize      int       `json:"payload_size" doc:"The length of the whole payload, in bytes" example:"63"`
	PayloadTruncated bool      `json:"payload_truncated" doc:"The preview shows only the start of the payload" example:"false"`
}

// ListPoisonedBody is a page of list-poisoned-messages.
type ListPoisonedBody struct {
	Items      []PoisonedItem `json:"items"`
	NextCursor string         `json:"next_cursor,omitempty" doc:"Cursor of the next page; absent on the last page"`
}

// ListPoisonedOutput is the response of list-poisoned-messages.
type ListPoisonedOutput struct{ Body ListPoisonedBody }

func (h *HTTP) listPoisoned(ctx context.Context, in *ListPoisonedInput) (*ListPoisonedOutput, error) {
	page, err := h.list.Handle(ctx, ListPoisoned{Handler: in.Handler, Topic: in.Topic, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, problem(err, map[string]string{"handler": "query.handler", "topic": "query.topic", "limit": "query.limit", "cursor": "query.cursor"})
	}
	out := &ListPoisonedOutput{Body: ListPoisonedBody{Items: make([]PoisonedItem, 0, len(page.Items)), NextCursor: page.NextCursor}}
	for _, m := range page.Items {
		out.Body.Items = append(out.Body.Items, itemOf(m))
	}
	return out, nil
}

func itemOf(m Message) PoisonedItem {
	preview, _ := Preview(m.Payload, PreviewBytes)
	return PoisonedItem{
		ID: m.ID, MessageID: m.MessageID, Topic: m.Topic, Handler: m.Handler, Reason: m.Reason, PoisonedAt: m.PoisonedAt,
		PayloadPreview: preview, PayloadSize: m.PayloadSize, PayloadTruncated: m.PayloadSize > PreviewBytes,
	}
}

// PoisonedIDInput names one poisoned message.
type PoisonedIDInput struct {
	ID string `path:"id" format:"uuid" doc:"The entry's id, from the list" example:"5b2f4d1e-8c3a-5e7f-9a1b-2c3d4e5f6a7b"`
}

// PoisonedMessageBody is a poisoned message whole.
type PoisonedMessageBody struct {
	PoisonedItem
	Metadata      map[string]string `json:"metadata" doc:"The message's metadata, the poison queue's keys included" example:"{\"reason_poisoned\": \"unknown event auth/user_deleted\", \"topic_poisoned\": \"notifier.events\", \"handler_poisoned\": \"eventintake.ConsumeEvents\", \"poisoned_at\": \"2026-03-01T12:00:00Z\"}"`
	PayloadText   *string           `json:"payload_text,omitempty" doc:"The whole payload, when it is UTF-8 text (JSON usually)" example:"{\"from_service\": \"auth\", \"event\": \"user_deleted\", \"details\": {}}"`
	PayloadBase64 []byte            `json:"payload_base64,omitempty" doc:"The whole payload in base64, when it is not UTF-8 text"`
}

// GetPoisonedOutput is the response of get-poisoned-message.
type GetPoisonedOutput struct{ Body PoisonedMessageBody }

func (h *HTTP) getPoisoned(ctx context.Context, in *PoisonedIDInput) (*GetPoisonedOutput, error) {
	m, err := h.get.Handle(ctx, in.ID)
	if err != nil {
		return nil, problem(err, map[string]string{"id": "path.id"})
	}
	body := PoisonedMessageBody{PoisonedItem: itemOf(m), Metadata: m.Metadata}
	if body.Metadata == nil {
		body.Metadata = map[string]string{}
	}
	if utf8.Valid(m.Payload) {
		text := string(m.Payload)
		body.PayloadText = &text
	} else {
		body.PayloadBase64 = m.Payload
	}
	return &GetPoisonedOutput{Body: body}, nil
}

// RequeuedBody says what was requeued.
type RequeuedBody struct {
	ID        string `json:"id" format:"uuid" doc:"The entry's id; the entry is deleted" example:"5b2f4d1e-8c3a-5e7f-9a1b-2c3d4e5f6a7b"`
	MessageID string `json:"message_id" doc:"The message's id, which the copy keeps" example:"9f0e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"`
	Topic     string `json:"topic" doc:"Where it was published" example:"notifier.events"`
	Handler   string `json:"handler" doc:"The one handler it is for" example:"eventintake.ConsumeEvents"`
}

// RequeuedOutput is the response of requeue-poisoned-message.
type RequeuedOutput struct{ Body RequeuedBody }

func (h *HTTP) requeuePoisoned(ctx context.Context, in *PoisonedIDInput) (*RequeuedOutput, error) {
	m, err := h.requeue.Handle(ctx, in.ID)
	if err != nil {
		return nil, problem(err, map[string]string{"id": "path.id"})
	}
	return &RequeuedOutput{Body: RequeuedBody{ID: m.ID, MessageID: m.MessageID, Topic: m.Topic, Handler: m.Handler}}, nil
}

func (h *HTTP) discardPoisoned(ctx context.Context, in *PoisonedIDInput) (*struct{}, error) {
	if err := h.discard.Handle(ctx, in.ID); err != nil {
		return nil, problem(err, map[string]string{"id": "path.id"})
	}
	return nil, nil
}

// problem maps a use case error to an HTTP error: bad input is a 422
// naming the field at its location in the request, an unknown entry a
// 404, a requeue that cannot be done a 409; anything else is returned as
// is and becomes a 500 whose text the server hides.
func problem(err error, locations map[string]string) error {
	var (
		inv      *InvalidInputError
		conflict *ConflictError
	)
	switch {
	case errors.As(err, &inv):
		loc, ok := locations[inv.Field]
		if !ok {
			loc = inv.Field
		}
		return huma.Error422UnprocessableEntity(inv.Error(), &huma.ErrorDetail{Location: loc, Message: inv.Message})
	case errors.Is(err, ErrNotFound):
		return huma.Error404NotFound("no such poisoned message: requeued, discarded or past its retention")
	case errors.As(err, &conflict):
		return huma.Error409Conflict(conflict.Reason)
	default:
		return err
	}
}
