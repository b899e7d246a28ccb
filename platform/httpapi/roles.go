package httpapi

import (
	"fmt"
	"strings"
)

// Role is the privilege a bearer token grants. Roles are ordered:
// admin includes manager, which includes service.
type Role string

// The roles a token may carry, from the least to the most privileged.
const (
	RoleService Role = "service"
	RoleManager Role = "manager"
	RoleAdmin   Role = "admin"
)

// MinTokenLength is the shortest token ParseTokens accepts.
const MinTokenLength = 8

// rank orders the roles; an unknown role has rank 0 and includes nothing.
func (r Role) rank() int {
	switch r {
	case RoleService:
		return 1
	case RoleManager:
		return 2
	case RoleAdmin:
		return 3
	default:
		return 0
	}
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Includes reports whether a caller holding r may do what required allows.
// An unknown role includes nothing and is included by nothing.
func (r Role) Includes(required Role) bool {
	return r.Valid() && required.Valid() && r.rank() >= required.rank()
}

// ParseTokens parses a token list in the NOTIFIER_API_TOKENS format,
// "role:token,role:token", into a map from token to role.
//
// Roles are service, manager and admin (case-insensitive); surrounding spaces
// and empty entries (such as a trailing comma) are ignored; a token may
// contain colons, as only the first one separates the role. Every token must
// be at least MinTokenLength characters long and appear only once. An empty
// string yields an empty map. Errors name the bad entry by its position and
// role, never by its token, so they are safe to log.
func ParseTokens(s string) (map[string]Role, error) {
	tokens := make(map[string]Role)
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pos := i + 1
		name, token, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("parse api tokens: entry %d: want \"role:token\"", pos)
		}
		role := Role(strings.ToLower(strings.TrimSpace(name)))
		token = strings.TrimSpace(token)
		if !role.Valid() {
			return nil, fmt.Errorf("parse api tokens: entry %d: unknown role %q (want service, manager or admin)", pos, name)
		}
		if len(token) < MinTokenLength {
			return nil, fmt.Errorf("parse api tokens: entry %d (role %s): token shorter than %d characters", pos, role, MinTokenLength)
		}
		if _, dup := tokens[token]; dup {
			return nil, fmt.Errorf("parse api tokens: entry %d (role %s): token listed twice", pos, role)
		}
		tokens[token] = role
	}
	return tokens, nil
}
