// Package httpapi is Notifier's HTTP infrastructure: a Huma v2 API on the
// standard library mux with bearer-token roles and users' own tokens,
// RFC 9457 problem+json errors, a request body cap, health and readiness
// probes, Prometheus metrics and an access log.
//
// Modules register their operations on [Server.API]; a secured operation is
// declared with [Secure]:
//
//	huma.Register(srv.API(), httpapi.Secure(huma.Operation{
//		OperationID: "create-posting",
//		Method:      http.MethodPost,
//		Path:        "/api/v1/postings",
//	}, httpapi.RoleService), h.CreatePosting)
//
// An operation on one user's resources that the user may also call with
// their own token (a JWT, verified by Config.UserTokens) adds [OrSelf],
// naming the path parameter that holds the user:
//
//	huma.Register(srv.API(), httpapi.Secure(huma.Operation{
//		OperationID: "get-user-preferences",
//		Method:      http.MethodGet,
//		Path:        "/api/v1/users/{user_id}/preferences",
//	}, httpapi.RoleManager, httpapi.OrSelf("user_id")), h.GetPreferences)
//
// Register every operation before the server answers its first request for
// /openapi.json: Huma caches the spec on first use.
//
// The package never imports anything under modules/.
package httpapi
