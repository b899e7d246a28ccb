package ports

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/platform/httpapi"
	"github.com/notifier/notifier/platform/unsubscribe"
)

// Unsubscriber handles app.Unsubscribe and reads a token for the page.
type Unsubscriber interface {
	Subject(token string) (unsubscribe.Subject, error)
	Handle(ctx context.Context, cmd app.Unsubscribe) (unsubscribe.Subject, error)
}

// UnsubscribeHTTP serves the one-click unsubscribe link (RFC 8058): GET
// shows a page that says what will happen, with a button; POST with
// List-Unsubscribe=One-Click (what mail clients send, and the button)
// unsubscribes. No bearer: the signed token is the authority. It
// implements httpapi.Routes.
type UnsubscribeHTTP struct {
	unsubscribe Unsubscriber
}

// NewUnsubscribeHTTP returns the port; the use case is required.
func NewUnsubscribeHTTP(u Unsubscriber) (*UnsubscribeHTTP, error) {
	if u == nil {
		return nil, errors.New("new unsubscribe http port: the use case is required")
	}
	return &UnsubscribeHTTP{unsubscribe: u}, nil
}

//go:embed pages/unsubscribe.html
var pagesFS embed.FS

var pageTemplate = template.Must(template.ParseFS(pagesFS, "pages/unsubscribe.html"))

// maxUnsubscribeBody bounds a POST body: "List-Unsubscribe=One-Click", or
// the same as multipart/form-data.
const maxUnsubscribeBody = 4 << 10

type unsubscribeInput struct {
	Token          string `query:"token" maxLength:"1024" doc:"The signed token of the link in the email." example:"M2YxYzJhOWUtN2IxZC00YTU1LTlhOGUtMGM0YjlkMmY2ZTExH25ld19tb3ZpZXMfZW1haWw.qXJ3lW4Ocx1J4C1CA0oSfJh1FNdlX4Pa5rA1e8y2Wm0"`
	AcceptLanguage string `header:"Accept-Language" doc:"The page is in Russian, or in English when the browser prefers it."`
}

type unsubscribePostInput struct {
	Token          string `query:"token" maxLength:"1024" doc:"The signed token of the link in the email."`
	AcceptLanguage string `header:"Accept-Language" doc:"The page is in Russian, or in English when the browser prefers it."`
	ContentType    string `header:"Content-Type" doc:"application/x-www-form-urlencoded or multipart/form-data."`
	RawBody        []byte
}

// pageOutput is an HTML page.
type pageOutput struct {
	Status         int
	ContentType    string `header:"Content-Type"`
	CacheControl   string `header:"Cache-Control"`
	Referrer       string `header:"Referrer-Policy"`
	FrameOptions   string `header:"X-Frame-Options"`
	SecurityPolicy string `header:"Content-Security-Policy"`
	Body           []byte
}

// RegisterRoutes implements httpapi.Routes.
func (h *UnsubscribeHTTP) RegisterRoutes(api huma.API) {
	html := map[string]*huma.MediaType{"text/html": {Schema: &huma.Schema{Type: "string"}}}
	responses := map[string]*huma.Response{
		"200": {Description: "The page.", Content: html},
		"400": {Description: "The link is not valid (forged, altered or cut short); the page says so.", Content: html},
	}
	huma.Register(api, huma.Operation{
		OperationID: "unsubscribe-page",
		Method:      http.MethodGet,
		Path:        unsubscribe.Path,
		Summary:     "Show what an unsubscribe link will do",
		Description: "The link in every non-mandatory email (`List-Unsubscribe` and the footer). Shows a page naming the " +
			"notification type and channel it turns off, with a button that POSTs. A GET never unsubscribes: link " +
			"scanners and previews fetch links. No bearer token: the link's signed token is the authority.",
		Tags:      []string{"Unsubscribe"},
		Responses: responses,
	}, h.page)
	op := huma.Operation{
		OperationID: "unsubscribe",
		Method:      http.MethodPost,
		Path:        unsubscribe.Path,
		Summary:     "Unsubscribe in one click (RFC 8058)",
		Description: "With the body `List-Unsubscribe=One-Click` (as mail clients send it after `List-Unsubscribe-Post`, and as " +
			"the page's button does), turns the link's notification type off on its channel for its user (the " +
			"`per_type` switch of the preferences) and answers 200 with a page saying so. A repeat is harmless. " +
			"A forged or altered token is a 400, a body without `List-Unsubscribe=One-Click` too; nothing changes then.",
		Tags:             []string{"Unsubscribe"},
		SkipValidateBody: true,
		MaxBodyBytes:     maxUnsubscribeBody,
		RequestBody: &huma.RequestBody{Content: map[string]*huma.MediaType{
			"application/x-www-form-urlencoded": {Schema: &huma.Schema{Type: "string"}, Example: "List-Unsubscribe=One-Click"},
		}},
		Responses: responses,
	}
	huma.Register(api, op, h.post)
	if body := httpapi.RawRequestBody(api, op); body != nil {
		// A RawBody makes Huma require a body (and answer a missing one
		// with problem+json); the handler judges it, with a page. This is
		// the request body the handler checks too (a pointer).
		body.Required = false
	}
}

func (h *UnsubscribeHTTP) page(_ context.Context, in *unsubscribeInput) (*pageOutput, error) {
	t := textsFor(in.AcceptLanguage)
	s, err := h.unsubscribe.Subject(in.Token)
	if err != nil {
		return render(http.StatusBadRequest, t.invalid())
	}
	// The form posts back to this URL, whatever prefix a proxy put
	// before it.
	return render(http.StatusOK, t.ask(s, "?token="+url.QueryEscape(in.Token)))
}

func (h *UnsubscribeHTTP) post(ctx context.Context, in *unsubscribePostInput) (*pageOutput, error) {
	t := textsFor(in.AcceptLanguage)
	if !oneClick(in.ContentType, in.RawBody) {
		return render(http.StatusBadRequest, t.noOneClick())
	}
	s, err := h.unsubscribe.Handle(ctx, app.Unsubscribe{Token: in.Token})
	switch {
	case errors.Is(err, app.ErrInvalidToken):
		return render(http.StatusBadRequest, t.invalid())
	case err != nil:
		return nil, huma.Error500InternalServerError("unsubscribe failed", err)
	}
	return render(http.StatusOK, t.done(s))
}

// oneClick reports whether body, of contentType, is a form holding
// List-Unsubscribe=One-Click (RFC 8058 allows urlencoded and multipart).
func oneClick(contentType string, body []byte) bool {
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch media {
	case "application/x-www-form-urlencoded":
		values, err := url.ParseQuery(string(body))
		return err == nil && values.Get("List-Unsubscribe") == "One-Click"
	case "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(maxUnsubscribeBody)
		if err != nil {
			return false
		}
		defer func() { _ = form.RemoveAll() }()
		v := form.Value["List-Unsubscribe"]
		return len(v) > 0 && v[0] == "One-Click"
	default:
		return false
	}
}

// pageData fills pages/unsubscribe.html.
type pageData struct {
	Lang, Title, State, Action, Button, Note string
	Lines                                    []string
}

func render(status int, d pageData) (*pageOutput, error) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("unsubscribe page: %w", err)
	}
	return &pageOutput{
		Status:         status,
		ContentType:    "text/html; charset=utf-8",
		CacheControl:   "no-store",
		Referrer:       "no-referrer", // the token is in the URL
		FrameOptions:   "DENY",
		SecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
		Body:           b.Bytes(),
	}, nil
}

// texts are the page's words in one language.
type texts struct {
	lang string
	// types names the built-in notification types; others show their code.
	types                                  map[string]string
	channels                               map[string]string
	askTitle, askLine, button, askNote     string
	doneTitle, doneLine, doneNote          string
	invalidTitle, invalidLine, invalidNote string
	noOneClickTitle, noOneClickLine        string
}

var russian = texts{
	lang: "ru",
	types: map[string]string{
		"welcome": "приветственные письма", "new_movies": "новые фильмы", "new_episode": "новые серии",
		"reactions": "реакции на ваши рецензии", "reactions_summary": "реакции на ваши рецензии",
	},
	channels:        map[string]string{"email": "по электронной почте", "sms": "по SMS", "inapp": "в приложении", "webhook": "по вебхуку"},
	askTitle:        "Отписаться от рассылки?",
	askLine:         "Вы перестанете получать уведомления «%s» %s. Остальные уведомления продолжат приходить.",
	button:          "Отписаться",
	askNote:         "Передумали — просто закройте эту страницу.",
	doneTitle:       "Вы отписались",
	doneLine:        "Уведомления «%s» %s больше не будут приходить.",
	doneNote:        "Вернуть их можно в настройках уведомлений в личном кабинете.",
	invalidTitle:    "Ссылка недействительна",
	invalidLine:     "Эта ссылка для отписки повреждена или подделана. Ничего не изменилось.",
	invalidNote:     "Откройте ссылку из письма целиком или настройте уведомления в личном кабинете.",
	noOneClickTitle: "Не удалось отписаться",
	noOneClickLine:  "Запрос не содержит подтверждения отписки (List-Unsubscribe=One-Click). Ничего не изменилось.",
}

var english = texts{
	lang: "en",
	types: map[string]string{
		"welcome": "welcome messages", "new_movies": "new movies", "new_episode": "new episodes",
		"reactions": "reactions to your reviews", "reactions_summary": "reactions to your reviews",
	},
	channels:        map[string]string{"email": "by email", "sms": "by SMS", "inapp": "in the app", "webhook": "by webhook"},
	askTitle:        "Unsubscribe?",
	askLine:         "You will stop receiving “%s” notifications %s. Your other notifications keep coming.",
	button:          "Unsubscribe",
	askNote:         "Changed your mind? Just close this page.",
	doneTitle:       "You are unsubscribed",
	doneLine:        "You will no longer receive “%s” notifications %s.",
	doneNote:        "You can turn them back on in your notification settings.",
	invalidTitle:    "This link is not valid",
	invalidLine:     "This unsubscribe link is damaged or forged. Nothing has changed.",
	invalidNote:     "Open the whole link from the email, or change your notification settings in your account.",
	noOneClickTitle: "Could not unsubscribe",
	noOneClickLine:  "The request does not confirm the unsubscription (List-Unsubscribe=One-Click). Nothing has changed.",
}

// textsFor picks English when the browser prefers it to Russian, else
// Russian (the cinema's language).
func textsFor(acceptLanguage string) texts {
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "ru"):
			return russian
		case strings.HasPrefix(tag, "en"):
			return english
		}
	}
	return russian
}

func (t texts) name(typ string) string {
	if n, ok := t.types[typ]; ok {
		return n
	}
	return typ
}

func (t texts) channel(ch string) string {
	if n, ok := t.channels[ch]; ok {
		return n
	}
	return ch
}

func (t texts) ask(s unsubscribe.Subject, action string) pageData {
	return pageData{Lang: t.lang, Title: t.askTitle, State: "ask", Action: action, Button: t.button, Note: t.askNote,
		Lines: []string{fmt.Sprintf(t.askLine, t.name(s.Type), t.channel(s.Channel))}}
}

func (t texts) done(s unsubscribe.Subject) pageData {
	return pageData{Lang: t.lang, Title: t.doneTitle, State: "done", Note: t.doneNote,
		Lines: []string{fmt.Sprintf(t.doneLine, t.name(s.Type), t.channel(s.Channel))}}
}

func (t texts) invalid() pageData {
	return pageData{Lang: t.lang, Title: t.invalidTitle, State: "invalid", Note: t.invalidNote, Lines: []string{t.invalidLine}}
}

func (t texts) noOneClick() pageData {
	return pageData{Lang: t.lang, Title: t.noOneClickTitle, State: "invalid", Lines: []string{t.noOneClickLine}}
}
