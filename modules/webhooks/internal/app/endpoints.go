package app

import (
	"net/url"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

// EndpointView is an endpoint as the API shows it: without its secrets
// (but when just made), with how many messages wait for it.
type EndpointView struct {
	domain.Endpoint
	Pending int
}

// parseID returns the endpoint id, or domain.ErrNotFound for a malformed
// one (no endpoint has it).
func parseID(id string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, domain.ErrNotFound
	}
	return u, nil
}

// hostOf returns the host of an endpoint's URL, which is all the log
// says of it: a path or query may hold a credential.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
