package httpapi

import (
	"mime"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
)

// MergePatchTypes are the media types a JSON merge patch (RFC 7396)
// operation takes: its own and plain JSON.
var MergePatchTypes = []string{"application/merge-patch+json", "application/json"}

// CheckMergePatch returns a 415 unless contentType, a request's
// Content-Type, is empty or one of MergePatchTypes (parameters such as
// charset allowed).
func CheckMergePatch(contentType string) error {
	if contentType == "" {
		return nil
	}
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil || !slices.Contains(MergePatchTypes, media) {
		return huma.NewError(http.StatusUnsupportedMediaType,
			"the body must be a JSON merge patch (Content-Type: application/merge-patch+json)")
	}
	return nil
}

// RawRequestBody returns the request body of op in api's OpenAPI document
// once it is registered, without the application/octet-stream
// alternative Huma adds for a RawBody field (the operations that read
// their body raw take what their document says, not any bytes); nil when
// op has none.
func RawRequestBody(api huma.API, op huma.Operation) *huma.RequestBody {
	item := api.OpenAPI().Paths[op.Path]
	if item == nil {
		return nil
	}
	var o *huma.Operation
	switch op.Method {
	case http.MethodPost:
		o = item.Post
	case http.MethodPut:
		o = item.Put
	case http.MethodPatch:
		o = item.Patch
	}
	if o == nil || o.RequestBody == nil {
		return nil
	}
	delete(o.RequestBody.Content, "application/octet-stream")
	return o.RequestBody
}
