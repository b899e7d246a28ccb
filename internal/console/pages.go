package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/notifier/notifier/platform/apitokens"
)

// posting is the API's posting resource, as the pages use it.
type posting struct {
	ID               string     `json:"id"`
	Status           string     `json:"status"`
	FromEvent        string     `json:"from_event"`
	NotificationType string     `json:"notification_type"`
	Template         string     `json:"template"`
	DeliveryType     []string   `json:"delivery_type"`
	Priority         string     `json:"priority"`
	Receivers        string     `json:"receivers"`
	ExpiresAt        *time.Time `json:"expires_at"`
	SendAt           *time.Time `json:"send_at"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	CompletedAt      *time.Time `json:"completed_at"`
	Error            *string    `json:"error"`
	Counters         struct {
		Recipients, Skipped, Sent, Failed, Expired, Cancelled int
	} `json:"counters"`
}

// Done is how many deliveries have an outcome.
func (p posting) Done() int {
	c := p.Counters
	return c.Skipped + c.Sent + c.Failed + c.Expired + c.Cancelled
}

// Rate is the outcomes a second since the posting began (its creation,
// or its send_at when scheduled), while it runs (0 otherwise).
func (p posting) Rate(now time.Time) float64 {
	// A scheduled posting starts at its send_at, not when it was made.
	began := p.CreatedAt
	if p.SendAt != nil && p.SendAt.After(began) {
		began = *p.SendAt
	}
	elapsed := now.Sub(began).Seconds()
	if p.Status != "dispatching" || elapsed <= 0 {
		return 0
	}
	return float64(p.Done()) / elapsed
}

// Left estimates the time the posting needs still, "" when unknown.
func (p posting) Left(now time.Time) string {
	rate := p.Rate(now)
	left := p.Counters.Recipients - p.Done()
	if rate <= 0 || left <= 0 {
		return ""
	}
	return time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second).String()
}

type postingList struct {
	Items      []posting `json:"items"`
	NextCursor string    `json:"next_cursor"`
}

var postingStatuses = []string{"accepted", "scheduled", "dispatching", "completed", "cancelled", "expired", "failed"}

var deliveryStatuses = []string{"pending", "sent", "failed", "expired", "skipped", "cancelled"}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", session{}, pageData{"Title": "Sign in", "Next": safeNext(r.URL.Query().Get("next"))})
}

// login signs in with a manager or admin token: the session cookie seals
// the token, a CSRF token and the expiry.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "login", session{}, pageData{"Title": "Sign in", "Error": "The form could not be read."})
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	next := safeNext(r.PostForm.Get("next"))
	role, known := c.roles[token]
	if !known || (role != apitokens.RoleManager && role != apitokens.RoleAdmin) {
		c.logger.InfoContext(r.Context(), "console sign-in refused", "known_token", known, "role", role)
		c.render(w, r, http.StatusUnauthorized, "login", session{}, pageData{"Title": "Sign in", "Next": next,
			"Error": "This is not a manager's or an admin's token."})
		return
	}
	s := session{Token: token, Role: role, CSRF: randomToken(24), Expires: c.now().Add(sessionTTL)}
	if err := c.setSession(w, r, s); err != nil {
		http.Error(w, "sign-in failed", http.StatusInternalServerError)
		return
	}
	c.logger.InfoContext(r.Context(), "console sign-in", "role", role)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a redirect inside the console.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/console/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/console/postings"
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ session) {
	c.clearSession(w, r)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// postings lists postings newest first, filtered; the rows of running ones
// refresh themselves (htmx asks for the "rows" template).
func (c *Console) postings(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	status, typ, cursor := q.Get("status"), strings.TrimSpace(q.Get("type")), q.Get("cursor")
	params := url.Values{"limit": {"50"}}
	if slices.Contains(postingStatuses, status) {
		params.Set("status", status)
	} else {
		status = ""
	}
	if typ != "" {
		params.Set("notification_type", typ)
	}
	if cursor != "" {
		params.Set("cursor", cursor)
	}
	var list postingList
	res, err := c.get(r.Context(), s, "/api/v1/postings?"+params.Encode(), &list)
	data := pageData{"Title": "Postings", "Status": status, "Type": typ, "Statuses": postingStatuses,
		"Now": c.now(), "Postings": list.Items, "NextCursor": list.NextCursor}
	if err != nil || !res.ok() {
		data["Error"] = "The postings could not be listed: " + res.problem()
	}
	running := false
	for _, p := range list.Items {
		if p.Status == "accepted" || p.Status == "scheduled" || p.Status == "dispatching" {
			running = true
		}
	}
	data["Running"] = running
	next := url.Values{}
	for k, v := range params {
		if k != "limit" && k != "cursor" {
			next[k] = v
		}
	}
	data["Filters"] = next.Encode()
	if r.Header.Get("HX-Request") == "true" {
		c.renderTemplate(w, r, http.StatusOK, "postings", "rows", s, data)
		return
	}
	c.render(w, r, http.StatusOK, "postings", s, data)
}

type deliveryList struct {
	Items []struct {
		UserID    string     `json:"user_id"`
		PostingID string     `json:"posting_id"`
		Channel   string     `json:"channel"`
		Status    string     `json:"status"`
		Attempts  int        `json:"attempts"`
		Error     string     `json:"error"`
		Provider  string     `json:"provider"`
		SentAt    *time.Time `json:"sent_at"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// posting shows one posting, its counters (live while it runs) and its
// deliveries page by page.
func (c *Console) posting(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	var p posting
	res, err := c.get(r.Context(), s, "/api/v1/postings/"+url.PathEscape(id), &p)
	if err != nil || !res.ok() {
		status := http.StatusBadGateway
		if res.Status == http.StatusNotFound || res.Status == http.StatusUnprocessableEntity {
			status = http.StatusNotFound
		}
		c.render(w, r, status, "error", s, pageData{"Title": "Posting not found", "Message": "No posting " + id + ": " + res.problem()})
		return
	}
	data := pageData{"Title": "Posting " + p.ID, "P": p, "Now": c.now()}
	if r.Header.Get("HX-Request") == "true" {
		c.renderTemplate(w, r, http.StatusOK, "posting", "summary", s, data)
		return
	}
	q := r.URL.Query()
	params := url.Values{"limit": {"50"}}
	status := q.Get("status")
	if slices.Contains(deliveryStatuses, status) {
		params.Set("status", status)
	} else {
		status = ""
	}
	if cur := q.Get("cursor"); cur != "" {
		params.Set("cursor", cur)
	}
	var list deliveryList
	dres, err := c.get(r.Context(), s, "/api/v1/postings/"+url.PathEscape(id)+"/deliveries?"+params.Encode(), &list)
	if err != nil || !dres.ok() {
		data["Error"] = "The deliveries could not be listed: " + dres.problem()
	}
	data["Deliveries"] = list.Items
	data["NextCursor"] = list.NextCursor
	data["DeliveryStatus"] = status
	data["DeliveryStatuses"] = deliveryStatuses
	data["Notice"] = q.Get("notice")
	c.render(w, r, http.StatusOK, "posting", s, data)
}

func (c *Console) cancel(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	res, err := c.call(r.Context(), s, http.MethodPost, "/api/v1/postings/"+url.PathEscape(id)+"/cancel", nil, "")
	notice := "Cancelled."
	if err != nil || !res.ok() {
		notice = "Not cancelled: " + res.problem()
	}
	http.Redirect(w, r, "/console/postings/"+url.PathEscape(id)+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

// mailingForm is the new mailing form's fields.
type mailingForm struct {
	Template, Receivers, Type, SendAt, ExpiresIn, Context, WebhookURL string
	Channels                                                          []string
}

func formOf(r *http.Request) mailingForm {
	f := mailingForm{
		Template: r.PostForm.Get("template"), Receivers: strings.TrimSpace(r.PostForm.Get("receivers")),
		Type: strings.TrimSpace(r.PostForm.Get("type")), SendAt: strings.TrimSpace(r.PostForm.Get("send_at")),
		ExpiresIn: strings.TrimSpace(r.PostForm.Get("expires_in")), Context: strings.TrimSpace(r.PostForm.Get("context")),
		Channels: r.PostForm["channels"], WebhookURL: strings.TrimSpace(r.PostForm.Get("webhook_url")),
	}
	return f
}

func (c *Console) newMailing(w http.ResponseWriter, r *http.Request, s session) {
	c.render(w, r, http.StatusOK, "new", s, pageData{"Title": "New mailing", "Templates": c.emailTemplates(),
		"Form": mailingForm{Template: firstOr(c.emailTemplates(), ""), Channels: []string{"email"}, Context: "{}",
			Receivers: "http://auth/api/v1/users/?is_active=True", ExpiresIn: "1 day"}})
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

// emailTemplates are the templates a mailing can name (the email ones; a
// mailing on SMS too uses the SMS file of the same name).
func (c *Console) emailTemplates() []string {
	var out []string
	for _, t := range c.cfg.Templates {
		if strings.HasPrefix(t, "email/") {
			out = append(out, t)
		}
	}
	return out
}

// preview renders the form's template for a sample user (the API's
// preview), for htmx; the HTML part goes into a sandboxed iframe.
func (c *Console) preview(w http.ResponseWriter, r *http.Request, s session) {
	f := formOf(r)
	data := pageData{}
	ctx, ctxErr := contextOf(f.Context)
	var email struct{ Subject, Text, HTML string }
	if ctxErr != nil {
		data["PreviewError"] = ctxErr.Error()
	} else if res, err := c.call(r.Context(), s, http.MethodPost, "/api/v1/templates/preview", map[string]any{"template": f.Template, "context": ctx}, ""); err == nil && res.ok() {
		_ = json.Unmarshal(res.Body, &email)
		data["Email"] = email
	} else {
		data["PreviewError"] = res.problem()
	}
	if ctxErr == nil && slices.Contains(f.Channels, "sms") {
		sms := "sms/" + strings.TrimPrefix(f.Template, "email/")
		var out struct{ Text string }
		res, err := c.call(r.Context(), s, http.MethodPost, "/api/v1/templates/preview", map[string]any{"template": sms, "context": ctx}, "")
		if err == nil && res.ok() {
			_ = json.Unmarshal(res.Body, &out)
			data["SMS"] = out.Text
		} else {
			data["SMSError"] = res.problem()
		}
	}
	// The in-app and webhook messages: a title and a Markdown body each.
	var others []channelPreview
	for _, ch := range []struct{ id, name string }{{"inapp", "In-app inbox"}, {"webhook", "Webhook"}} {
		if ctxErr != nil || !slices.Contains(f.Channels, ch.id) {
			continue
		}
		p := channelPreview{Name: ch.name}
		var out struct{ Subject, Text string }
		res, err := c.call(r.Context(), s, http.MethodPost, "/api/v1/templates/preview",
			map[string]any{"template": ch.id + "/" + strings.TrimPrefix(f.Template, "email/"), "context": ctx}, "")
		if err == nil && res.ok() {
			_ = json.Unmarshal(res.Body, &out)
			p.Subject, p.Text = out.Subject, out.Text
		} else {
			p.Error = res.problem()
		}
		others = append(others, p)
	}
	data["Others"] = others
	if r.Header.Get("HX-Request") == "true" {
		c.renderTemplate(w, r, http.StatusOK, "new", "preview", s, data)
		return
	}
	// Without JavaScript the Preview button posts the whole form here.
	data["Title"], data["Templates"], data["Form"] = "New mailing", c.emailTemplates(), f
	c.render(w, r, http.StatusOK, "new", s, data)
}

// channelPreview is the preview of one more channel's message.
type channelPreview struct {
	Name, Subject, Text, Error string
}

func contextOf(raw string) (map[string]any, error) {
	if raw == "" {
		return map[string]any{}, nil
	}
	var ctx map[string]any
	if err := json.Unmarshal([]byte(raw), &ctx); err != nil || ctx == nil {
		return nil, fmt.Errorf("the template context must be a JSON object")
	}
	return ctx, nil
}

// createMailing creates the posting through the API's POST
// /api/v1/postings, as a manager's curl would.
func (c *Console) createMailing(w http.ResponseWriter, r *http.Request, s session) {
	f := formOf(r)
	again := func(msg string) {
		c.render(w, r, http.StatusUnprocessableEntity, "new", s, pageData{"Title": "New mailing", "Templates": c.emailTemplates(), "Form": f, "Error": msg})
	}
	ctx, err := contextOf(f.Context)
	if err != nil {
		again(err.Error())
		return
	}
	body := map[string]any{"receivers": f.Receivers, "template": f.Template, "delivery_type": f.Channels, "template_context": ctx}
	if f.Type != "" {
		body["notification_type"] = f.Type
	}
	if f.WebhookURL != "" {
		body["webhook_url"] = f.WebhookURL
	}
	if f.ExpiresIn != "" {
		body["expires_in"] = f.ExpiresIn
	}
	if f.SendAt != "" {
		at, err := time.Parse("2006-01-02T15:04", f.SendAt)
		if err != nil {
			if at, err = time.Parse(time.RFC3339, f.SendAt); err != nil {
				again("send at: want a date and time such as 2026-12-24T18:00 (UTC)")
				return
			}
		}
		body["send_at"] = at.UTC().Format(time.RFC3339)
	}
	res, err := c.call(r.Context(), s, http.MethodPost, "/api/v1/postings", body, "")
	if err != nil || !res.ok() {
		again("The mailing was not created: " + res.problem())
		return
	}
	var p posting
	if err := json.Unmarshal(res.Body, &p); err != nil || p.ID == "" {
		again("The API's answer could not be read.")
		return
	}
	http.Redirect(w, r, "/console/postings/"+url.PathEscape(p.ID)+"?notice="+url.QueryEscape("Mailing created."), http.StatusSeeOther)
}

func (c *Console) findUser(w http.ResponseWriter, r *http.Request, s session) {
	if id := strings.TrimSpace(r.URL.Query().Get("id")); id != "" {
		http.Redirect(w, r, "/console/users/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "user", s, pageData{"Title": "Users"})
}

// preferences is the API's preferences resource.
type preferences struct {
	UserID     string                       `json:"user_id"`
	Channels   map[string]bool              `json:"channels"`
	Types      map[string]bool              `json:"types"`
	PerType    map[string]map[string]bool   `json:"per_type"`
	QuietHours *struct{ Start, End string } `json:"quiet_hours"`
	Mandatory  []string                     `json:"mandatory"`
	UpdatedAt  *time.Time                   `json:"updated_at"`
}

// typeRow is one type of the channel × type grid.
type typeRow struct {
	Type      string
	On        bool
	Mandatory bool
	PerType   map[string]string // channel → "on", "off" or "" (no switch)
}

func (c *Console) user(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	var p preferences
	res, err := c.get(r.Context(), s, "/api/v1/users/"+url.PathEscape(id)+"/preferences", &p)
	if err != nil || !res.ok() {
		c.render(w, r, http.StatusNotFound, "user", s, pageData{"Title": "Users", "Error": "No such user: " + res.problem()})
		return
	}
	channels := sortedKeys(p.Channels)
	var rows []typeRow
	for _, t := range sortedKeys(p.Types) {
		row := typeRow{Type: t, On: p.Types[t], Mandatory: slices.Contains(p.Mandatory, t), PerType: map[string]string{}}
		for _, ch := range channels {
			if on, set := p.PerType[t][ch]; set {
				row.PerType[ch] = map[bool]string{true: "on", false: "off"}[on]
			}
		}
		rows = append(rows, row)
	}
	data := pageData{"Title": "User " + id, "UserID": id, "P": p, "Channels": channels, "Rows": rows, "Notice": r.URL.Query().Get("notice")}
	var list deliveryList
	dres, err := c.get(r.Context(), s, "/api/v1/users/"+url.PathEscape(id)+"/deliveries?limit=50", &list)
	switch {
	case err == nil && dres.ok():
		data["Deliveries"] = list.Items
	case dres.Status == http.StatusNotFound || dres.Status == http.StatusMethodNotAllowed:
		data["DeliveriesNote"] = "This version of the API does not list a user's deliveries."
	default:
		data["DeliveriesNote"] = "The deliveries could not be listed: " + dres.problem()
	}
	var held heldDigests
	if hres, err := c.get(r.Context(), s, "/api/v1/users/"+url.PathEscape(id)+"/digests", &held); err == nil && hres.ok() {
		data["Digests"] = held.Items
	}
	c.render(w, r, http.StatusOK, "user", s, data)
}

// heldDigests is what is held for a user's digests.
type heldDigests struct {
	Items []struct {
		Type    string    `json:"notification_type"`
		Channel string    `json:"channel"`
		Held    int       `json:"held"`
		DueAt   time.Time `json:"due_at"`
	} `json:"items"`
}

// savePreferences sends what the form changed, and nothing else, as a
// JSON merge patch (PATCH): switches the manager did not touch keep
// following the configured defaults.
func (c *Console) savePreferences(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	var p preferences
	res, err := c.get(r.Context(), s, "/api/v1/users/"+url.PathEscape(id)+"/preferences", &p)
	if err != nil || !res.ok() {
		http.Redirect(w, r, "/console/users/"+url.PathEscape(id)+"?notice="+url.QueryEscape("Not saved: "+res.problem()), http.StatusSeeOther)
		return
	}
	patch := map[string]any{}
	set := func(member, key string, v any) {
		m, _ := patch[member].(map[string]any)
		if m == nil {
			m = map[string]any{}
			patch[member] = m
		}
		m[key] = v
	}
	for ch, on := range p.Channels {
		if want := r.PostForm.Get("channel."+ch) == "on"; want != on {
			set("channels", ch, want)
		}
	}
	for t, on := range p.Types {
		if want := r.PostForm.Get("type."+t) == "on"; want != on {
			set("types", t, want)
		}
		for ch := range p.Channels {
			cur, isSet := p.PerType[t][ch]
			switch form := r.PostForm.Get("per_type." + t + "." + ch); {
			case form == "" && isSet:
				set("per_type", t, map[string]any{ch: nil})
			case (form == "on" || form == "off") && (!isSet || cur != (form == "on")):
				pt, _ := patch["per_type"].(map[string]any)
				if pt == nil || pt[t] == nil {
					set("per_type", t, map[string]any{})
				}
				patch["per_type"].(map[string]any)[t].(map[string]any)[ch] = form == "on"
			}
		}
	}
	start, end := strings.TrimSpace(r.PostForm.Get("quiet_start")), strings.TrimSpace(r.PostForm.Get("quiet_end"))
	switch {
	case start == "" && end == "" && p.QuietHours != nil:
		patch["quiet_hours"] = nil
	case (start != "" || end != "") && (p.QuietHours == nil || p.QuietHours.Start != start || p.QuietHours.End != end):
		patch["quiet_hours"] = map[string]string{"start": start, "end": end}
	}
	notice := "Nothing changed."
	if len(patch) > 0 {
		raw, _ := json.Marshal(patch)
		res, err = c.call(r.Context(), s, http.MethodPatch, "/api/v1/users/"+url.PathEscape(id)+"/preferences", raw, "application/merge-patch+json")
		notice = "Saved."
		if err != nil || !res.ok() {
			notice = "Not saved: " + res.problem()
		}
	}
	http.Redirect(w, r, "/console/users/"+url.PathEscape(id)+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

type poisonList struct {
	Items []struct {
		ID         string    `json:"id"`
		Topic      string    `json:"topic"`
		Handler    string    `json:"handler"`
		Reason     string    `json:"reason"`
		PoisonedAt time.Time `json:"poisoned_at"`
		Preview    string    `json:"payload_preview"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func (c *Console) poison(w http.ResponseWriter, r *http.Request, s session) {
	if !c.adminOnly(w, r, s, "poison", "Poison queue", "The poison queue is") {
		return
	}
	data := pageData{"Title": "Poison queue", "Notice": r.URL.Query().Get("notice")}
	params := url.Values{"limit": {"50"}}
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		params.Set("cursor", cur)
	}
	var list poisonList
	res, err := c.get(r.Context(), s, "/api/v1/poison?"+params.Encode(), &list)
	if err != nil || !res.ok() {
		data["Error"] = "The poison queue could not be listed: " + res.problem()
	}
	data["Messages"] = list.Items
	data["NextCursor"] = list.NextCursor
	c.render(w, r, http.StatusOK, "poison", s, data)
}

func (c *Console) poisonAction(w http.ResponseWriter, r *http.Request, s session) {
	id, action := r.PathValue("id"), r.PathValue("action")
	var res apiResult
	var err error
	switch action {
	case "requeue":
		res, err = c.call(r.Context(), s, http.MethodPost, "/api/v1/poison/"+url.PathEscape(id)+"/requeue", nil, "")
	case "discard":
		res, err = c.call(r.Context(), s, http.MethodDelete, "/api/v1/poison/"+url.PathEscape(id), nil, "")
	default:
		http.NotFound(w, r)
		return
	}
	notice := map[string]string{"requeue": "Requeued.", "discard": "Discarded."}[action]
	if err != nil || !res.ok() {
		notice = "Not done: " + res.problem()
	}
	http.Redirect(w, r, "/console/poison?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
