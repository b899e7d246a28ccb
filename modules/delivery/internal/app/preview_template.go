package app

import (
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/platform/templating"
)

// SampleRecipient is the recipient a preview renders for when its context
// has no "user".
var SampleRecipient = delivery.Recipient{
	UserID:    "00000000-0000-0000-0000-000000000000",
	Email:     "ivan.petrov@example.com",
	Phone:     "+79000000000",
	Username:  "ivan.petrov",
	FirstName: "Иван",
	Locale:    "ru",
	Timezone:  "Europe/Moscow",
}

// SamplePostingID is the posting_id a preview renders with when its context
// has none.
const SamplePostingID = "00000000-0000-0000-0000-000000000000"

// PreviewTemplate asks to render a template with a sample context.
type PreviewTemplate struct {
	// Template is the template's name, such as "email/new_movies.md".
	Template string
	// Context is the template context; "user" defaults to SampleRecipient
	// and "posting_id" to SamplePostingID.
	Context map[string]any
}

// PreviewTemplateHandler answers PreviewTemplate.
type PreviewTemplateHandler struct{ renderer Renderer }

// NewPreviewTemplateHandler returns the handler; renderer is required.
func NewPreviewTemplateHandler(renderer Renderer) (*PreviewTemplateHandler, error) {
	if renderer == nil {
		return nil, errors.New("new preview template handler: renderer is required")
	}
	return &PreviewTemplateHandler{renderer: renderer}, nil
}

// Handle renders the template. It returns an *InvalidInputError naming
// "template" for an unknown template and for a broken one (its message
// then names the file and the line).
func (h *PreviewTemplateHandler) Handle(q PreviewTemplate) (templating.Rendered, error) {
	data := make(map[string]any, len(q.Context)+2)
	data["user"] = UserData(SampleRecipient)
	data["posting_id"] = SamplePostingID
	for k, v := range q.Context {
		data[k] = v
	}
	out, err := h.renderer.Render(q.Template, data)
	var te *templating.TemplateError
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, templating.ErrTemplateNotFound), errors.Is(err, templating.ErrUnknownChannel):
		return templating.Rendered{}, invalid("template", "unknown template %q", q.Template)
	case errors.As(err, &te):
		return templating.Rendered{}, invalid("template", "broken template: %s", te.Error())
	default:
		return templating.Rendered{}, fmt.Errorf("preview template: %w", err)
	}
}
