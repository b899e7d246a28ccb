package app

import (
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/platform/templating"
)

// SampleRecipient is the recipient a preview renders for when its context
// has no "user"; its locale is the one the preview asks for.
var SampleRecipient = delivery.Recipient{
	UserID:    "00000000-0000-0000-0000-000000000000",
	Email:     "ivan.petrov@example.com",
	Phone:     "+79000000000",
	Username:  "ivan.petrov",
	FirstName: "Иван",
	Timezone:  "Europe/Moscow",
}

// SamplePostingID is the posting_id a preview renders with when its context
// has none.
const SamplePostingID = "00000000-0000-0000-0000-000000000000"

// PreviewTemplate asks to render a template with a sample context.
type PreviewTemplate struct {
	// Template is the template's name, such as "email/new_movies.md".
	Template string
	// Locale is the recipient's locale (a BCP 47 tag such as "en-GB");
	// empty means the context user's "locale", as a delivery would use it,
	// else the default locale.
	Locale string
	// Context is the template context; "user" defaults to SampleRecipient
	// and "posting_id" to SamplePostingID.
	Context map[string]any
}

// PreviewRenderer renders templates and tells a template's name from one of
// its locale files' (*templating.Renderer).
type PreviewRenderer interface {
	Renderer
	VariantOf(name string) (template, locale string, ok bool)
}

// PreviewTemplateHandler answers PreviewTemplate.
type PreviewTemplateHandler struct{ renderer PreviewRenderer }

// NewPreviewTemplateHandler returns the handler; renderer is required.
func NewPreviewTemplateHandler(renderer PreviewRenderer) (*PreviewTemplateHandler, error) {
	if renderer == nil {
		return nil, errors.New("new preview template handler: renderer is required")
	}
	return &PreviewTemplateHandler{renderer: renderer}, nil
}

// Handle renders the template for q's locale; the result's Locale and File
// say which file was rendered. It returns an *InvalidInputError naming
// "locale" for a locale that is not a BCP 47 language tag, and naming
// "template" for an unknown template, the name of one of a template's
// locale files, and a broken template (its message then names the file and
// the line).
func (h *PreviewTemplateHandler) Handle(q PreviewTemplate) (templating.Rendered, error) {
	if q.Locale != "" {
		if _, err := templating.ParseLocale(q.Locale); err != nil {
			return templating.Rendered{}, invalid("locale", "%v", err)
		}
	}
	if base, fileLocale, ok := h.renderer.VariantOf(q.Template); ok {
		return templating.Rendered{}, invalid("template", "%q is the %s file of %q: name %q and give locale %q",
			q.Template, fileLocale, base, base, fileLocale)
	}
	sample := SampleRecipient
	sample.Locale = q.Locale
	data := make(map[string]any, len(q.Context)+2)
	data["user"] = UserData(sample)
	data["posting_id"] = SamplePostingID
	for k, v := range q.Context {
		data[k] = v
	}
	locale := q.Locale
	if user, ok := data["user"].(map[string]any); ok && locale == "" {
		locale, _ = user["locale"].(string)
	}

	out, err := h.renderer.RenderLocale(q.Template, locale, data)
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
