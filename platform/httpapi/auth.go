package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// bearerScheme is the name of the security scheme in the OpenAPI document.
const bearerScheme = "bearer"

// metaRequiredRole is the operation metadata key Secure sets and the auth
// middleware reads.
const metaRequiredRole = "notifier.httpapi.role"

// Secure marks op as requiring a bearer token whose role includes role: it
// adds the bearer security requirement and the 401 and 403 responses to the
// spec and records role in op.Metadata, which the server's auth middleware
// enforces. It panics if role is unknown, as that is a programming error found
// at registration.
//
// An operation that declares op.Security without Secure still needs a valid
// token of any role.
func Secure(op huma.Operation, role Role) huma.Operation {
	if !role.Valid() {
		panic(fmt.Sprintf("httpapi: Secure: unknown role %q", role))
	}
	if !slices.ContainsFunc(op.Security, func(req map[string][]string) bool { _, ok := req[bearerScheme]; return ok }) {
		op.Security = append(slices.Clone(op.Security), map[string][]string{bearerScheme: {}})
	}
	meta := maps.Clone(op.Metadata)
	if meta == nil {
		meta = make(map[string]any, 1)
	}
	meta[metaRequiredRole] = role
	op.Metadata = meta
	errs := slices.Clone(op.Errors)
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		if !slices.Contains(errs, status) {
			errs = append(errs, status)
		}
	}
	op.Errors = errs
	return op
}

type roleKey struct{}

// RoleFromContext returns the role of the authenticated caller of the current
// request. It reports false for an unsecured operation.
func RoleFromContext(ctx context.Context) (Role, bool) {
	role, ok := ctx.Value(roleKey{}).(Role)
	return role, ok
}

// requiredRole returns the role op demands and whether it demands one at all.
func requiredRole(op *huma.Operation) (Role, bool) {
	if op == nil {
		return "", false
	}
	if role, ok := op.Metadata[metaRequiredRole].(Role); ok {
		return role, true
	}
	if len(op.Security) > 0 {
		return RoleService, true
	}
	return "", false
}

// tokenSet holds the SHA-256 digests of the configured tokens. Comparing
// fixed-size digests in constant time, always against every entry, reveals
// neither a token's content nor its length.
type tokenSet struct {
	entries []tokenEntry
}

type tokenEntry struct {
	digest [sha256.Size]byte
	role   Role
}

func newTokenSet(tokens map[string]Role) *tokenSet {
	ts := &tokenSet{entries: make([]tokenEntry, 0, len(tokens))}
	for token, role := range tokens {
		ts.entries = append(ts.entries, tokenEntry{digest: sha256.Sum256([]byte(token)), role: role})
	}
	return ts
}

// lookup returns the role of token, if it is a configured one.
func (ts *tokenSet) lookup(token string) (Role, bool) {
	digest := sha256.Sum256([]byte(token))
	var found Role
	for _, e := range ts.entries {
		if subtle.ConstantTimeCompare(digest[:], e.digest[:]) == 1 {
			found = e.role
		}
	}
	return found, found != ""
}

// bearerToken extracts the token from an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authMiddleware enforces the role each operation requires and stores the
// caller's role in the request context. It never logs a token.
func (s *Server) authMiddleware(ctx huma.Context, next func(huma.Context)) {
	required, secured := requiredRole(ctx.Operation())
	if !secured {
		next(ctx)
		return
	}
	token, ok := bearerToken(ctx.Header("Authorization"))
	var role Role
	if ok {
		role, ok = s.tokens.lookup(token)
	}
	if !ok {
		s.logger.DebugContext(ctx.Context(), "http request unauthenticated", "operation", ctx.Operation().OperationID)
		ctx.SetHeader("WWW-Authenticate", "Bearer")
		_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "a valid bearer token is required")
		return
	}
	if !role.Includes(required) {
		s.logger.DebugContext(ctx.Context(), "http request forbidden",
			"operation", ctx.Operation().OperationID, "role", role, "required_role", required)
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, fmt.Sprintf("this operation requires the %s role", required))
		return
	}
	next(huma.WithValue(ctx, roleKey{}, role))
}
