package domain

import (
	"net/url"
	"path"
	"strings"

	"github.com/notifier/notifier/modules/posting"
)

// SingleUser reports whether a receivers URL names one user: a query with a
// single id value (?id=<uuid>) or a path ending in /users/<id>/.
func SingleUser(receivers string) bool {
	u, err := url.Parse(receivers)
	if err != nil {
		return false
	}
	if ids := u.Query()["id"]; len(ids) == 1 && ids[0] != "" && !strings.Contains(ids[0], ",") {
		return true
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	return len(segs) >= 2 && segs[len(segs)-2] == "users" && segs[len(segs)-1] != ""
}

// DefaultPriority is the lane of a posting whose caller named none:
// transactional for one user, bulk for a group.
func DefaultPriority(receivers string) posting.Priority {
	if SingleUser(receivers) {
		return posting.PriorityTransactional
	}
	return posting.PriorityBulk
}

// DefaultNotificationType is the notification type of a posting whose
// caller named none: the template's base name without ".md"
// ("email/new_movies.md" gives "new_movies").
func DefaultNotificationType(template string) string {
	return strings.TrimSuffix(path.Base(template), ".md")
}

// TemplateFor returns the template of channel for a posting whose template
// is template: the template itself when it lives in the channel's
// directory, else "<channel>/<basename>".
func TemplateFor(template, channel string) string {
	if strings.HasPrefix(template, channel+"/") {
		return template
	}
	return channel + "/" + path.Base(template)
}
