package httpapi

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// bearerScheme is the name of the security scheme in the OpenAPI document.
const bearerScheme = "bearer"

// bearerDescription describes the security scheme in the OpenAPI document.
const bearerDescription = "`Authorization: Bearer <token>` with one of two kinds of token.\n\n" +
	"- **API token**, from `NOTIFIER_API_TOKENS`, for services and managers. Roles nest: service < manager < admin.\n" +
	"- **User token**, when `NOTIFIER_JWT_SECRET` or `NOTIFIER_JWT_JWKS_URL` is set: a JWT the auth service issued to a user " +
	"(HS256 with `NOTIFIER_JWT_SECRET`, or RS256/ES256/EdDSA… with a key of `NOTIFIER_JWT_JWKS_URL`; " +
	"`iss` `NOTIFIER_JWT_ISSUER`, `aud` `NOTIFIER_JWT_AUDIENCE`, `exp` and `sub` required). " +
	"Its `sub` is the user id. Only the operations that say so accept it, and only for that user: " +
	"another user's resource or any other operation answers 403. Its claims, for example: " +
	"`{\"iss\": \"https://auth.cinema.example\", \"aud\": \"notifier\", \"sub\": \"1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11\", " +
	"\"iat\": 1775035800, \"exp\": 1775036700}`.\n\n" +
	"A missing, unknown, expired or otherwise invalid token answers 401."

// Operation metadata keys Secure sets and the auth middleware
// reads.
const (
	metaRequiredRole = "notifier.httpapi.role"
	metaSelfParam    = "notifier.httpapi.self_param"
)

// ExtensionOwnUser is the OpenAPI extension of an operation secured with
// OrSelf: its value is the path parameter a user's own token must match.
const ExtensionOwnUser = "x-notifier-own-user"

// UserTokenVerifier verifies a user's own bearer token (a JWT the auth
// service issued) and returns the user it speaks for. Its error says why
// the token was refused in words safe to show the caller and to log: it
// never holds the token.
type UserTokenVerifier interface {
	Verify(ctx context.Context, token string) (userID string, err error)
}

// SecureOption widens who may call an operation Secure protects.
type SecureOption struct {
	selfParam string
}

// OrSelf lets a user's own token (a JWT, see Config.UserTokens) call the
// operation too, but only for the user it names: the operation's path holds
// the user in the parameter param (such as "user_id" in
// /api/v1/users/{user_id}/preferences), and the token's sub must equal it;
// for any other user it gets 403. API tokens keep the role Secure asks for,
// for any user.
func OrSelf(param string) SecureOption { return SecureOption{selfParam: param} }

// Secure marks op as requiring a bearer token whose role includes role: it
// adds the bearer security requirement and the 401 and 403 responses to the
// spec and records role in op.Metadata, which the server's auth middleware
// enforces. A user's own token is refused with 403 unless an option says
// otherwise:
//
//	httpapi.Secure(op, httpapi.RoleManager, httpapi.OrSelf("user_id"))
//
// also admits the user named by the path's {user_id}, and appends a
// paragraph saying so to op.Description.
//
// It panics if role is unknown, or if OrSelf names a parameter op.Path does
// not hold, as those are programming errors found at registration. An
// operation that declares op.Security without Secure still needs a valid
// API token of any role.
func Secure(op huma.Operation, role Role, opts ...SecureOption) huma.Operation {
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
	delete(meta, metaSelfParam)
	if _, ok := op.Extensions[ExtensionOwnUser]; ok {
		op.Extensions = maps.Clone(op.Extensions)
		delete(op.Extensions, ExtensionOwnUser)
	}
	for _, o := range opts {
		if o.selfParam == "" {
			continue
		}
		if !strings.Contains(op.Path, "{"+o.selfParam+"}") {
			panic(fmt.Sprintf("httpapi: Secure: OrSelf: path %q has no parameter {%s}", op.Path, o.selfParam))
		}
		meta[metaSelfParam] = o.selfParam
		op.Extensions = maps.Clone(op.Extensions)
		if op.Extensions == nil {
			op.Extensions = make(map[string]any, 1)
		}
		op.Extensions[ExtensionOwnUser] = o.selfParam
		op.Description = withParagraph(op.Description, fmt.Sprintf(
			"**Who may call it.** An API token of the `%s` role or above, for any user; "+
				"or a user's own JWT, for that user only: its `sub` must be the `%s` of the path, "+
				"and another user's answers 403.", role, o.selfParam))
	}
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

// The details of the auth middleware's 403 answers, which the OpenAPI
// examples show too.
func roleDetail(required Role) string {
	return fmt.Sprintf("this operation requires the %s role", required)
}

func userTokenDetail(required Role) string {
	return fmt.Sprintf("a user's token may not call this operation: it requires the %s role", required)
}

func otherUserDetail(param string) string {
	return fmt.Sprintf("a user's token may only be used for its own user (the %s of the path)", param)
}

// documentAuthErrors is a Huma OnAddOperation hook: it describes the 401
// and 403 answers of each operation Secure protects, with examples of the
// problems the auth middleware writes.
func documentAuthErrors(_ *huma.OpenAPI, op *huma.Operation) {
	role, ok := op.Metadata[metaRequiredRole].(Role)
	if !ok {
		return
	}
	param, self := selfParam(op)
	if r := op.Responses[strconv.Itoa(http.StatusUnauthorized)]; r != nil {
		r.Description = "No bearer token, an unknown API token, or a user's token that failed a check " +
			"(expired, not valid yet, wrong issuer or audience, bad signature, unknown key…): the detail says which."
		addExamples(r, map[string]*huma.Example{
			"no_token": {Summary: "No bearer token", Value: problem(http.StatusUnauthorized, "a valid bearer token is required")},
			"expired": {Summary: "A user's token that has expired",
				Value: problem(http.StatusUnauthorized, "a valid bearer token is required: the token has expired")},
		})
	}
	if r := op.Responses[strconv.Itoa(http.StatusForbidden)]; r != nil {
		examples := map[string]*huma.Example{}
		lesser := ""
		if role != RoleService { // no API token is below service
			examples["role"] = &huma.Example{Summary: "An API token of a lesser role", Value: problem(http.StatusForbidden, roleDetail(role))}
			lesser = fmt.Sprintf("An API token below the %s role, or a", role)
		}
		if self {
			r.Description = fmt.Sprintf("%s user's token for another user than the %s of the path.", cmp.Or(lesser, "A"), param)
			examples["other_user"] = &huma.Example{Summary: "A user's token for another user",
				Value: problem(http.StatusForbidden, otherUserDetail(param))}
		} else {
			r.Description = fmt.Sprintf("%s user's token: this operation takes API tokens only.", cmp.Or(lesser, "A"))
			examples["user_token"] = &huma.Example{Summary: "A user's own token",
				Value: problem(http.StatusForbidden, userTokenDetail(role))}
		}
		addExamples(r, examples)
	}
}

// addExamples adds examples to every media type of r.
func addExamples(r *huma.Response, examples map[string]*huma.Example) {
	for _, mt := range r.Content {
		if mt.Examples == nil {
			mt.Examples = make(map[string]*huma.Example, len(examples))
		}
		maps.Copy(mt.Examples, examples)
	}
}

// withParagraph appends paragraph to text, unless text already holds it.
func withParagraph(text, paragraph string) string {
	switch {
	case text == "":
		return paragraph
	case strings.Contains(text, paragraph):
		return text
	default:
		return text + "\n\n" + paragraph
	}
}

type (
	roleKey struct{}
	userKey struct{}
)

// RoleFromContext returns the role of the API token that authenticated the
// current request. It reports false for an unsecured operation and for a
// user's token.
func RoleFromContext(ctx context.Context) (Role, bool) {
	role, ok := ctx.Value(roleKey{}).(Role)
	return role, ok
}

// UserFromContext returns the user whose own token authenticated the
// current request (the JWT's sub). It reports false for an API token and
// for an unsecured operation.
func UserFromContext(ctx context.Context) (string, bool) {
	user, ok := ctx.Value(userKey{}).(string)
	return user, ok
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

// selfParam returns the path parameter naming the user whose own token op
// accepts, if it accepts one.
func selfParam(op *huma.Operation) (string, bool) {
	param, ok := op.Metadata[metaSelfParam].(string)
	return param, ok && param != ""
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
// caller in the request context: the role of an API token, or the user of
// a user's token. A bearer that is a configured API token keeps its role;
// any other is verified as a user's token when the server has a
// UserTokenVerifier, and refused otherwise. It never logs a token.
func (s *Server) authMiddleware(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	required, secured := requiredRole(op)
	if !secured {
		next(ctx)
		return
	}
	token, ok := bearerToken(ctx.Header("Authorization"))
	if !ok {
		s.unauthorized(ctx, "a valid bearer token is required", "no bearer token")
		return
	}
	if role, ok := s.tokens.lookup(token); ok {
		if !role.Includes(required) {
			s.logger.DebugContext(ctx.Context(), "http request forbidden",
				"operation", op.OperationID, "role", role, "required_role", required)
			_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, roleDetail(required))
			return
		}
		next(huma.WithValue(ctx, roleKey{}, role))
		return
	}
	if s.userTokens == nil {
		s.unauthorized(ctx, "a valid bearer token is required", "unknown api token")
		return
	}
	user, err := s.userTokens.Verify(ctx.Context(), token)
	if err != nil {
		s.unauthorized(ctx, "a valid bearer token is required: "+err.Error(), err.Error())
		return
	}
	param, self := selfParam(op)
	switch {
	case !self:
		s.logger.DebugContext(ctx.Context(), "http request forbidden", "operation", op.OperationID, "caller", "user token")
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, userTokenDetail(required))
		return
	case ctx.Param(param) != user:
		s.logger.DebugContext(ctx.Context(), "http request forbidden", "operation", op.OperationID, "caller", "user token of another user")
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, otherUserDetail(param))
		return
	}
	next(huma.WithValue(ctx, userKey{}, user))
}

// unauthorized answers 401 with detail and logs why at debug level.
func (s *Server) unauthorized(ctx huma.Context, detail, reason string) {
	s.logger.DebugContext(ctx.Context(), "http request unauthenticated", "operation", ctx.Operation().OperationID, "reason", reason)
	ctx.SetHeader("WWW-Authenticate", "Bearer")
	_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, detail)
}
