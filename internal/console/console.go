// Package console is the web console of managers and admins at /console:
// server-rendered pages (html/template) over the service's own HTTP API,
// called in process with the signed-in token, so that every action goes
// through the same operation, use case, checks and audit trail as a curl
// call would. htmx (vendored, embedded) refreshes the live parts; every
// page works without JavaScript.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/notifier/notifier/platform/apitokens"
)

//go:embed templates/*.html
var templatesFS embed.FS

//go:embed static/htmx.min.js
var htmxJS []byte

// Config configures the console.
type Config struct {
	// API is the service's HTTP handler; the console calls it in process.
	API http.Handler
	// Tokens is api.tokens: who may sign in (manager and admin tokens).
	Tokens string
	// Templates lists the email and SMS templates a mailing may use.
	Templates []string
	// Key seals the session cookies; empty: a random key of the process
	// (sign-ins end with it, and instances do not share them).
	Key []byte
	// Secure marks the cookie Secure whatever the request (behind a TLS
	// proxy that does not say X-Forwarded-Proto).
	Secure bool
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Console serves the console's pages.
type Console struct {
	cfg    Config
	logger *slog.Logger
	sealer *sealer
	roles  map[string]string
	pages  map[string]*template.Template
	now    func() time.Time
}

// New returns the console.
func New(cfg Config, logger *slog.Logger) (*Console, error) {
	if cfg.API == nil || logger == nil {
		return nil, errors.New("new console: API handler and logger are required")
	}
	roles, err := apitokens.Parse(cfg.Tokens)
	if err != nil {
		return nil, fmt.Errorf("new console: %w", err)
	}
	key := cfg.Key
	if len(key) == 0 {
		key = []byte(randomToken(32))
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, fmt.Errorf("new console: %w", err)
	}
	c := &Console{cfg: cfg, logger: logger, sealer: s, roles: roles, now: cfg.Now}
	if c.now == nil {
		c.now = time.Now
	}
	if err := c.parsePages(); err != nil {
		return nil, err
	}
	return c, nil
}

// parsePages parses each page with the layout and the partials.
func (c *Console) parsePages() error {
	funcs := template.FuncMap{
		"percent": percent,
		"when":    func(t *time.Time) string { return formatTime(t) },
		"at":      func(t time.Time) string { return formatTime(&t) },
		"join":    strings.Join,
		"query":   url.QueryEscape,
		"contains": func(list []string, s string) bool {
			for _, v := range list {
				if v == s {
					return true
				}
			}
			return false
		},
		// A digest's own delivery (posting id "digest:<id>",
		// delivery.DigestPostingPrefix) belongs to no posting page.
		"digest": func(postingID string) bool { return strings.HasPrefix(postingID, "digest:") },
		"running": func(status string) bool {
			return status == "accepted" || status == "scheduled" || status == "dispatching"
		},
	}
	c.pages = map[string]*template.Template{}
	for _, page := range []string{"login", "postings", "posting", "new", "user", "poison", "webhooks", "error"} {
		t, err := template.New(page).Funcs(funcs).ParseFS(templatesFS, "templates/layout.html", "templates/partials.html", "templates/"+page+".html")
		if err != nil {
			return fmt.Errorf("console page %s: %w", page, err)
		}
		c.pages[page] = t
	}
	return nil
}

// Handler returns the console's routes, under /console.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/static/htmx.min.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(htmxJS)
	})
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("POST /console/logout", c.signedIn(c.logout))
	mux.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/postings", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /console/postings", c.signedIn(c.postings))
	mux.HandleFunc("GET /console/postings/{id}", c.signedIn(c.posting))
	mux.HandleFunc("POST /console/postings/{id}/cancel", c.signedIn(c.cancel))
	mux.HandleFunc("GET /console/mailings/new", c.signedIn(c.newMailing))
	mux.HandleFunc("POST /console/mailings/preview", c.signedIn(c.preview))
	mux.HandleFunc("POST /console/mailings", c.signedIn(c.createMailing))
	mux.HandleFunc("GET /console/users", c.signedIn(c.findUser))
	mux.HandleFunc("GET /console/users/{id}", c.signedIn(c.user))
	mux.HandleFunc("POST /console/users/{id}/preferences", c.signedIn(c.savePreferences))
	mux.HandleFunc("GET /console/webhooks", c.signedIn(c.webhooks))
	mux.HandleFunc("GET /console/webhooks/{id}", c.signedIn(c.webhook))
	mux.HandleFunc("POST /console/webhooks/{id}", c.signedIn(c.saveWebhook))
	mux.HandleFunc("POST /console/webhooks/{id}/enable", c.signedIn(c.enableWebhook))
	mux.HandleFunc("GET /console/poison", c.signedIn(c.poison))
	mux.HandleFunc("POST /console/poison/{id}/{action}", c.signedIn(c.poisonAction))
	return securityHeaders(mux)
}

// securityHeaders sets what every console response carries: no framing,
// no sniffing, no referrer (ids in URLs), scripts only from the console.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "+
			"img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'")
		if r.Method == http.MethodGet {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// handler is a page handler of a signed-in user.
type handler func(w http.ResponseWriter, r *http.Request, s session)

// signedIn runs h for a request with a valid session (and, for a POST, the
// session's CSRF token in its form); others go to the sign-in page, or get
// 403 for a POST without the right CSRF token.
func (c *Console) signedIn(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(sessionCookie)
		var s session
		if err == nil {
			s, err = c.sealer.open(ck.Value, c.now())
		}
		if err != nil {
			if r.Method != http.MethodGet || r.Header.Get("HX-Request") == "true" {
				w.Header().Set("HX-Redirect", "/console/login")
				http.Error(w, "sign in again", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil || !sameCSRF(s, r.PostForm.Get("csrf")) {
				c.render(w, r, http.StatusForbidden, "error", s, pageData{"Title": "Forbidden",
					"Message": "This form is out of date (or was not sent from the console). Go back, reload the page and try again."})
				return
			}
		}
		h(w, r, s)
	}
}

// pageData is what a page's template gets besides the session.
type pageData map[string]any

// render writes page with data, the session's role and CSRF token.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, s session, data pageData) {
	c.renderTemplate(w, r, status, page, "layout", s, data)
}

// renderTemplate executes the named template of page (the whole page, or a
// partial for htmx).
func (c *Console) renderTemplate(w http.ResponseWriter, r *http.Request, status int, page, name string, s session, data pageData) {
	if data == nil {
		data = pageData{}
	}
	data["CSRF"] = s.CSRF
	data["Role"] = s.Role
	data["SignedIn"] = s.Token != ""
	data["Path"] = r.URL.Path
	var b bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&b, name, data); err != nil {
		c.logger.ErrorContext(r.Context(), "console page failed", "page", page, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// apiResult is an answer of the API.
type apiResult struct {
	Status int
	Body   []byte
}

// problem returns the detail of a problem+json answer, and its field
// errors, for a message on the page.
func (a apiResult) problem() string {
	var p struct {
		Detail string `json:"detail"`
		Errors []struct {
			Message  string `json:"message"`
			Location string `json:"location"`
		} `json:"errors"`
	}
	if json.Unmarshal(a.Body, &p) != nil || p.Detail == "" {
		return fmt.Sprintf("the API answered %d", a.Status)
	}
	msg := p.Detail
	for _, e := range p.Errors {
		field := strings.TrimPrefix(e.Location, "body.") + ": " + e.Message
		if strings.Contains(msg, field) {
			continue // the detail says it already
		}
		msg += "; " + field
	}
	return msg
}

func (a apiResult) ok() bool { return a.Status >= 200 && a.Status < 300 }

// call calls the API in process as the signed-in user. body is JSON-encoded
// unless it is a []byte.
func (c *Console) call(ctx context.Context, s session, method, path string, body any, contentType string) (apiResult, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return apiResult{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, rd)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	c.cfg.API.ServeHTTP(rec, req)
	return apiResult{Status: rec.Code, Body: rec.Body.Bytes()}, nil
}

// get calls GET path and decodes a 2xx answer into out.
func (c *Console) get(ctx context.Context, s session, path string, out any) (apiResult, error) {
	res, err := c.call(ctx, s, http.MethodGet, path, nil, "")
	if err != nil || !res.ok() {
		return res, err
	}
	return res, json.Unmarshal(res.Body, out)
}

func percent(part, whole int) int {
	if whole <= 0 {
		return 0
	}
	p := part * 100 / whole
	return min(max(p, 0), 100)
}

func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
