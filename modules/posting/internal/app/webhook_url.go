package app

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/notifier/notifier/platform/egress"
)

// MaxWebhookURLLength bounds a posting's webhook URL.
const MaxWebhookURLLength = 2048

// WebhookHosts says which hosts a posting's webhook URL may name
// (egress.Policy of webhook_channel.allowed_hosts). What a name resolves
// to is checked by the webhook channel on each call.
type WebhookHosts interface {
	CheckHost(host string) error
}

// WithWebhookHosts judges the hosts of postings' webhook URLs with p; the
// default lets any host but loopback, private and other internal
// addresses written as such, and localhost.
func WithWebhookHosts(p WebhookHosts) CreatePostingOption {
	return func(h *CreatePostingHandler) error {
		if p == nil {
			return errors.New("webhook hosts: nil policy")
		}
		h.webhookHosts = p
		return nil
	}
}

// checkWebhookURL validates a posting's webhook URL: an absolute http or
// https URL, without user information or fragment, whose host the policy
// lets be reached. Its messages never repeat the URL, which may hold the
// receiver's credential.
func checkWebhookURL(raw string, hosts WebhookHosts) error {
	if len(raw) > MaxWebhookURLLength {
		return invalid("webhook_url", "longer than %d characters", MaxWebhookURLLength)
	}
	if !isText(raw) || strings.ContainsAny(raw, " \t\r\n") {
		return invalid("webhook_url", "is not a valid URL")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return invalid("webhook_url", "is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid("webhook_url", "want an absolute http:// or https:// URL")
	case u.Hostname() == "":
		return invalid("webhook_url", "has no host")
	case u.User != nil:
		return invalid("webhook_url", "may not hold a user name or password; put a credential in the path or query if the endpoint needs one")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return invalid("webhook_url", "may not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("webhook_url", "has an invalid port")
		}
	}
	if err := hosts.CheckHost(u.Hostname()); err != nil {
		if errors.Is(err, egress.ErrForbidden) {
			return invalid("webhook_url", "%s", strings.TrimPrefix(err.Error(), egress.ErrForbidden.Error()+": "))
		}
		return invalid("webhook_url", "host not allowed")
	}
	return nil
}
