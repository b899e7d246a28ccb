package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/platform/apitokens"
)

// endpoint is the API's webhook endpoint resource.
type endpoint struct {
	ID              string     `json:"id"`
	URL             string     `json:"url"`
	Description     string     `json:"description"`
	Events          []string   `json:"events"`
	Enabled         bool       `json:"enabled"`
	DisabledReason  string     `json:"disabled_reason"`
	DisabledAt      *time.Time `json:"disabled_at"`
	LastSuccessAt   *time.Time `json:"last_success_at"`
	PendingMessages int        `json:"pending_messages"`
	CreatedAt       time.Time  `json:"created_at"`
}

// attempt is one try of one webhook message.
type attempt struct {
	At         time.Time `json:"at"`
	Attempt    int       `json:"attempt"`
	EventType  string    `json:"event_type"`
	WebhookID  string    `json:"webhook_id"`
	Result     string    `json:"result"`
	StatusCode int       `json:"status_code"`
	Error      string    `json:"error"`
	DurationMS int64     `json:"duration_ms"`
}

// adminOnly renders the page's refusal for a manager and reports whether
// the caller is an admin.
func (c *Console) adminOnly(w http.ResponseWriter, r *http.Request, s session, page, title, what string) bool {
	if s.Role == apitokens.RoleAdmin {
		return true
	}
	c.render(w, r, http.StatusForbidden, page, s, pageData{"Title": title, "Error": what + " for admins: sign in with an admin token."})
	return false
}

// webhooks lists the endpoints with how they are doing.
func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, s session) {
	if !c.adminOnly(w, r, s, "webhooks", "Webhooks", "Webhooks are") {
		return
	}
	var list struct {
		Items []endpoint `json:"items"`
	}
	data := pageData{"Title": "Webhooks", "Notice": r.URL.Query().Get("notice")}
	res, err := c.get(r.Context(), s, "/api/v1/webhooks", &list)
	if err != nil || !res.ok() {
		data["Error"] = "The webhooks could not be listed: " + res.problem()
	}
	data["Endpoints"] = list.Items
	c.render(w, r, http.StatusOK, "webhooks", s, data)
}

// webhook shows one endpoint and its attempt history, page by page.
func (c *Console) webhook(w http.ResponseWriter, r *http.Request, s session) {
	if !c.adminOnly(w, r, s, "webhooks", "Webhooks", "Webhooks are") {
		return
	}
	id := r.PathValue("id")
	var e endpoint
	res, err := c.get(r.Context(), s, "/api/v1/webhooks/"+url.PathEscape(id), &e)
	if err != nil || !res.ok() {
		c.render(w, r, http.StatusNotFound, "webhooks", s, pageData{"Title": "Webhooks", "Error": "No webhook " + id + ": " + res.problem()})
		return
	}
	params := url.Values{"limit": {"50"}}
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		params.Set("cursor", cur)
	}
	var list struct {
		Items      []attempt `json:"items"`
		NextCursor string    `json:"next_cursor"`
	}
	data := pageData{"Title": "Webhook " + id, "Endpoint": e, "Notice": r.URL.Query().Get("notice"), "EventTypes": webhooks.EventTypes}
	ares, err := c.get(r.Context(), s, "/api/v1/webhooks/"+url.PathEscape(id)+"/attempts?"+params.Encode(), &list)
	if err != nil || !ares.ok() {
		data["Error"] = "The attempts could not be listed: " + ares.problem()
	}
	data["Attempts"] = list.Items
	data["NextCursor"] = list.NextCursor
	c.render(w, r, http.StatusOK, "webhooks", s, data)
}

func (c *Console) enableWebhook(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	res, err := c.call(r.Context(), s, http.MethodPost, "/api/v1/webhooks/"+url.PathEscape(id)+"/enable", nil, "")
	notice := "Enabled."
	if err != nil || !res.ok() {
		notice = "Not enabled: " + res.problem()
	}
	http.Redirect(w, r, "/console/webhooks/"+url.PathEscape(id)+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

// saveWebhook sends what the edit form changed, and nothing else, as a
// JSON merge patch (PATCH): the endpoint keeps its secret, its waiting
// messages and its history.
func (c *Console) saveWebhook(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	back := func(notice string) {
		http.Redirect(w, r, "/console/webhooks/"+url.PathEscape(id)+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
	}
	var e endpoint
	res, err := c.get(r.Context(), s, "/api/v1/webhooks/"+url.PathEscape(id), &e)
	if err != nil || !res.ok() {
		back("Not saved: " + res.problem())
		return
	}
	patch := map[string]any{}
	if u := strings.TrimSpace(r.PostForm.Get("url")); u != e.URL {
		patch["url"] = u
	}
	events := r.PostForm["events"]
	if events == nil {
		events = []string{} // none ticked: the API says at least one is needed
	}
	if !slices.Equal(sorted(events), sorted(e.Events)) {
		patch["events"] = events
	}
	if d := strings.TrimSpace(r.PostForm.Get("description")); d != e.Description {
		patch["description"] = d
		if d == "" {
			patch["description"] = nil // null removes it
		}
	}
	if len(patch) == 0 {
		back("Nothing changed.")
		return
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		back("Not saved: " + err.Error())
		return
	}
	res, err = c.call(r.Context(), s, http.MethodPatch, "/api/v1/webhooks/"+url.PathEscape(id), raw, "application/merge-patch+json")
	if err != nil || !res.ok() {
		back("Not saved: " + res.problem())
		return
	}
	back("Saved.")
}

func sorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}
