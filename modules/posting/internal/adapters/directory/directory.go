// Package directory fetches the audience of a posting from the user
// directory (auth) through the upstream client, following the paging
// contract of DESIGN §6.
package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/platform/upstream"
)

// Getter fetches JSON from the configured upstreams (*upstream.Client).
type Getter interface {
	GetJSON(ctx context.Context, rawURL string, v any) error
}

// Directory is an app.Directory over a Getter.
type Directory struct {
	get Getter
}

var _ app.Directory = (*Directory)(nil)

// New returns a Directory fetching through get, which is required.
func New(get Getter) (*Directory, error) {
	if get == nil {
		return nil, errors.New("new directory: nil getter")
	}
	return &Directory{get: get}, nil
}

// user is a user as the directory serves it.
type user struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	Locale    string `json:"locale"`
	Timezone  string `json:"timezone"`
	// WebhookURL is the user's URL for the webhook channel (optional).
	WebhookURL string `json:"webhook_url"`
}

func (u user) toApp() app.DirectoryUser {
	return app.DirectoryUser{
		ID: u.ID, Email: u.Email, Phone: u.Phone, Username: u.Username,
		FirstName: u.FirstName, Locale: u.Locale, Timezone: u.Timezone, WebhookURL: u.WebhookURL,
	}
}

// page is a page of users as the directory serves it.
type page struct {
	Items      []user `json:"items"`
	PageNumber int    `json:"page_number"`
	PageSize   int    `json:"page_size"`
	Total      *int   `json:"total"`
}

// Page fetches page number of receivers with page_number and page_size set
// (replacing any the URL carries). The directory answers a page
// ({"items", "page_number", "page_size", "total"}), which is the last when
// its items are empty or number*page_size reaches total; or, for a
// single-user URL, the user object itself, which is the only page. Users
// without an id are left out.
//
// Errors are the upstream client's (see upstream.IsTransient); an answer
// that is neither a page nor a user, or a page of more than size users
// (which would overrun the walk's window), wraps
// upstream.ErrInvalidResponse; receivers whose query does not parse wrap
// upstream.ErrInvalidURL.
func (d *Directory) Page(ctx context.Context, receivers string, number, size int) (app.AudiencePage, error) {
	pageURL, err := withPaging(receivers, number, size)
	if err != nil {
		return app.AudiencePage{}, err
	}
	var raw json.RawMessage
	if err := d.get.GetJSON(ctx, pageURL, &raw); err != nil {
		return app.AudiencePage{}, fmt.Errorf("fetch audience page: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return app.AudiencePage{}, fmt.Errorf("%w: the directory answered no JSON object", upstream.ErrInvalidResponse)
	}
	if _, ok := probe["items"]; ok {
		var p page
		if err := json.Unmarshal(raw, &p); err != nil {
			return app.AudiencePage{}, fmt.Errorf("%w: malformed directory page: %v", upstream.ErrInvalidResponse, err)
		}
		if len(p.Items) > size {
			return app.AudiencePage{}, fmt.Errorf("%w: the directory answered %d users for a page of %d",
				upstream.ErrInvalidResponse, len(p.Items), size)
		}
		pageSize := size
		if p.PageSize > 0 {
			pageSize = p.PageSize
		}
		out := app.AudiencePage{
			Users: make([]app.DirectoryUser, 0, len(p.Items)),
			Last:  len(p.Items) == 0 || (p.Total != nil && number*pageSize >= *p.Total),
		}
		for _, u := range p.Items {
			if u.ID != "" {
				out.Users = append(out.Users, u.toApp())
			}
		}
		return out, nil
	}
	if _, ok := probe["id"]; ok {
		var u user
		if err := json.Unmarshal(raw, &u); err != nil {
			return app.AudiencePage{}, fmt.Errorf("%w: malformed directory user: %v", upstream.ErrInvalidResponse, err)
		}
		if u.ID == "" {
			return app.AudiencePage{Last: true}, nil
		}
		return app.AudiencePage{Users: []app.DirectoryUser{u.toApp()}, Last: true}, nil
	}
	return app.AudiencePage{}, fmt.Errorf("%w: the directory answered neither a page nor a user", upstream.ErrInvalidResponse)
}

// withPaging sets page_number and page_size in the query of receivers,
// the rest of the URL kept as written (re-encoding it may change it: a
// colon in a relative path's first segment gets a "./"); the fragment,
// which is never sent, is dropped. A query that does not parse is refused:
// its unreadable filters would be dropped, and the directory asked for a
// broader audience than the posting names.
func withPaging(receivers string, number, size int) (string, error) {
	u, err := url.Parse(receivers)
	if err != nil {
		return "", fmt.Errorf("%w: receivers", upstream.ErrInvalidURL)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("%w: receivers query", upstream.ErrInvalidURL)
	}
	q.Set("page_number", strconv.Itoa(number))
	q.Set("page_size", strconv.Itoa(size))
	beforeFragment, _, _ := strings.Cut(receivers, "#")
	beforeQuery, _, _ := strings.Cut(beforeFragment, "?")
	return beforeQuery + "?" + q.Encode(), nil
}
