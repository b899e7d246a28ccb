package app

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/platform/egress"
)

// Limits of an endpoint.
const (
	MaxURLLength         = 2048
	MaxDescriptionLength = 500
)

// HostPolicy says which hosts an endpoint's URL may name
// (egress.Policy).
type HostPolicy interface {
	CheckHost(host string) error
}

// checkURL validates an endpoint's URL: an absolute http or https URL
// without user information or fragment, whose host policy allows. The
// address a name resolves to is checked on each call instead.
func checkURL(raw string, policy HostPolicy) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", invalid("url", "is required")
	}
	if len(raw) > MaxURLLength {
		return "", invalid("url", "is longer than %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid("url", "is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", invalid("url", "want an absolute http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return "", invalid("url", "has no host")
	case u.User != nil:
		return "", invalid("url", "may not hold a user name or password; put a credential in the path or query if the endpoint needs one")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", invalid("url", "may not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", invalid("url", "has an invalid port")
		}
	}
	if err := policy.CheckHost(u.Hostname()); err != nil {
		if errors.Is(err, egress.ErrForbidden) {
			return "", invalid("url", "%s", strings.TrimPrefix(err.Error(), egress.ErrForbidden.Error()+": "))
		}
		return "", invalid("url", "host not allowed")
	}
	return u.String(), nil
}

// checkEvents validates the event types an endpoint subscribes to and
// returns them each once, in the order of webhooks.EventTypes.
func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, invalid("events", "at least one event type is required (%s)", strings.Join(webhooks.EventTypes, ", "))
	}
	for i, e := range events {
		if !webhooks.KnownEventType(e) {
			return nil, invalid(fmt.Sprintf("events[%d]", i), "unknown event type %q (%s)", e, strings.Join(webhooks.EventTypes, ", "))
		}
	}
	out := make([]string, 0, len(events))
	for _, t := range webhooks.EventTypes {
		if slices.Contains(events, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func checkDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if !utf8.ValidString(d) || utf8.RuneCountInString(d) > MaxDescriptionLength {
		return "", invalid("description", "at most %d characters of text", MaxDescriptionLength)
	}
	return d, nil
}
