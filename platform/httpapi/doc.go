// Package httpapi is Notifier's HTTP infrastructure: a Huma v2 API on the
// standard library mux with bearer-token roles, RFC 9457 problem+json errors,
// a request body cap, health and readiness probes, Prometheus metrics and an
// access log.
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
// Register every operation before the server answers its first request for
// /openapi.json: Huma caches the spec on first use.
//
// The package never imports anything under modules/.
package httpapi
