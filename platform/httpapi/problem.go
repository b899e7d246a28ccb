package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/validation"
)

// problemContentType is the media type of RFC 9457 problem details.
const problemContentType = "application/problem+json"

// internalErrorDetail is the only detail a 500 response ever carries.
const internalErrorDetail = "an internal error occurred; it has been logged"

// internalProblem returns the generic body of every 500 response.
func internalProblem() *huma.ErrorModel {
	return &huma.ErrorModel{
		Status: http.StatusInternalServerError,
		Title:  http.StatusText(http.StatusInternalServerError),
		Detail: internalErrorDetail,
	}
}

// hideInternalErrors is a Huma transformer that replaces the body of every
// 500 response, which may carry a wrapped error's text, with a generic
// problem, and logs what it hid.
func (s *Server) hideInternalErrors(ctx huma.Context, status string, v any) (any, error) {
	if status != strconv.Itoa(http.StatusInternalServerError) {
		return v, nil
	}
	if em, ok := v.(*huma.ErrorModel); ok && em.Detail == internalErrorDetail && len(em.Errors) == 0 {
		return v, nil
	}
	u := ctx.URL()
	attrs := []any{"operation", ctx.Operation().OperationID, "method", ctx.Method(), "path", loggedPath(u.EscapedPath(), ctx.Operation().Path, ctx.Param)}
	switch body := v.(type) {
	case *huma.ErrorModel:
		causes := make([]string, 0, len(body.Errors))
		for _, d := range body.Errors {
			if d != nil {
				causes = append(causes, d.Error())
			}
		}
		attrs = append(attrs, "detail", body.Detail, "errors", causes)
	case error:
		attrs = append(attrs, "error", body.Error())
	}
	s.logger.ErrorContext(ctx.Context(), "http request failed", attrs...)
	ctx.SetHeader("Content-Type", problemContentType)
	return internalProblem(), nil
}

// writeProblem writes a problem+json response outside Huma (unknown routes,
// wrong methods, panics).
func writeProblem(w http.ResponseWriter, p *huma.ErrorModel) {
	body, err := json.Marshal(p)
	if err != nil {
		// An ErrorModel always marshals; keep the status regardless.
		body = []byte(`{"status":` + strconv.Itoa(p.Status) + `}`)
	}
	h := w.Header()
	h.Set("Content-Type", problemContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// problem builds a problem with the standard title for status.
func problem(status int, detail string) *huma.ErrorModel {
	return &huma.ErrorModel{Status: status, Title: http.StatusText(status), Detail: detail}
}

// missingPrefix and missingSuffix frame the property name in Huma's
// "expected required property %s to be present" message.
var missingPrefix, missingSuffix, _ = strings.Cut(validation.MsgExpectedRequiredProperty, "%s")

// nameMissingFields is a Huma transformer that moves the name of a missing
// required property into the error's location: Huma reports it at the
// enclosing object ("body") and names it only in the message; clients get
// "body.name".
func nameMissingFields(_ huma.Context, status string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok || status != strconv.Itoa(http.StatusUnprocessableEntity) {
		return v, nil
	}
	for i, d := range em.Errors {
		if d == nil || d.Location == "" {
			continue
		}
		rest, ok := strings.CutPrefix(d.Message, missingPrefix)
		if !ok {
			continue
		}
		name, ok := strings.CutSuffix(rest, missingSuffix)
		if !ok || name == "" {
			continue
		}
		named := *d
		named.Location = d.Location + "." + name
		em.Errors[i] = &named
	}
	return em, nil
}
