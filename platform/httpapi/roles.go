package httpapi

import (
	"fmt"

	"github.com/notifier/notifier/platform/apitokens"
)

// Role is the privilege a bearer token grants. Roles are ordered:
// admin includes manager, which includes service.
type Role string

// The roles a token may carry, from the least to the most privileged.
const (
	RoleService Role = apitokens.RoleService
	RoleManager Role = apitokens.RoleManager
	RoleAdmin   Role = apitokens.RoleAdmin
)

// MinTokenLength is the shortest token ParseTokens accepts.
const MinTokenLength = apitokens.MinLength

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
// "role:token,role:token", into a map from token to role, by the rules of
// apitokens.Parse (which the configuration check applies too). Errors name
// every bad entry by its position and role, never by its token, so they are
// safe to log.
func ParseTokens(s string) (map[string]Role, error) {
	parsed, err := apitokens.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse api tokens: %w", err)
	}
	tokens := make(map[string]Role, len(parsed))
	for token, role := range parsed {
		tokens[token] = Role(role)
	}
	return tokens, nil
}
