// Package apitokens parses the bearer tokens of NOTIFIER_API_TOKENS,
// "role:token,role:token", so that the configuration check and the HTTP
// server agree on what a valid list is.
package apitokens

import (
	"errors"
	"fmt"
	"strings"
)

// The roles a token may carry, from the least to the most privileged.
const (
	RoleService = "service"
	RoleManager = "manager"
	RoleAdmin   = "admin"
)

// MinLength is the shortest token Parse accepts.
const MinLength = 8

// KnownRole reports whether role is one of the roles above (lowercase).
func KnownRole(role string) bool {
	switch role {
	case RoleService, RoleManager, RoleAdmin:
		return true
	}
	return false
}

// Parse parses a token list into a map from token to role.
//
// Roles are service, manager and admin (case-insensitive, returned
// lowercase); surrounding spaces and empty entries (such as a trailing
// comma) are ignored; a token may contain colons, as only the first one
// separates the role. Every token must be at least MinLength characters
// long and appear only once. An empty string yields an empty map.
//
// A bad list returns every problem, one error per bad entry joined with
// errors.Join, each naming the entry by its position and, when known, its
// role ("entry 2 (role admin): token shorter than 8 characters"), never by
// its token or by a word that could be one, so they are safe to log.
func Parse(s string) (map[string]string, error) {
	tokens := make(map[string]string)
	first := make(map[string]int) // token → the entry that listed it first
	var errs []error
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pos := i + 1
		name, token, ok := strings.Cut(entry, ":")
		if !ok {
			errs = append(errs, fmt.Errorf("entry %d: malformed, want role:token", pos))
			continue
		}
		role := strings.ToLower(strings.TrimSpace(name))
		token = strings.TrimSpace(token)
		switch {
		case !KnownRole(role):
			// The word is not repeated: a token written before its role
			// would be printed.
			errs = append(errs, fmt.Errorf("entry %d: unknown role (want %s, %s or %s)", pos, RoleService, RoleManager, RoleAdmin))
		case token == "":
			errs = append(errs, fmt.Errorf("entry %d (role %s): empty token", pos, role))
		case len(token) < MinLength:
			errs = append(errs, fmt.Errorf("entry %d (role %s): token shorter than %d characters", pos, role, MinLength))
		default:
			if at, dup := first[token]; dup {
				errs = append(errs, fmt.Errorf("entry %d (role %s): duplicate token, already in entry %d", pos, role, at))
				continue
			}
			first[token] = pos
			tokens[token] = role
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return tokens, nil
}
