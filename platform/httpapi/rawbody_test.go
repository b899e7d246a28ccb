package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/httpapi"
)

func TestAMergePatchTakesItsOwnTypeOrJSONOnly(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"", "application/merge-patch+json", "application/json", "application/json; charset=utf-8"} {
		assert.NoError(t, httpapi.CheckMergePatch(ct), ct)
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/json-patch+json", "not a type;;"} {
		err := httpapi.CheckMergePatch(ct)
		var se huma.StatusError
		require.ErrorAs(t, err, &se, ct)
		assert.Equal(t, http.StatusUnsupportedMediaType, se.GetStatus(), ct)
	}
}

func TestARawBodyOperationDocumentsOnlyWhatItTakes(t *testing.T) {
	t.Parallel()
	_, api := humatest.New(t)
	op := huma.Operation{OperationID: "patch-thing", Method: http.MethodPatch, Path: "/things/{id}"}
	huma.Register(api, op, func(context.Context, *struct {
		ID      string `path:"id"`
		RawBody []byte
	}) (*struct{}, error) {
		return nil, nil
	})
	require.Contains(t, api.OpenAPI().Paths["/things/{id}"].Patch.RequestBody.Content, "application/octet-stream", "what Huma adds")
	body := httpapi.RawRequestBody(api, op)
	require.NotNil(t, body)
	assert.NotContains(t, body.Content, "application/octet-stream")
	assert.Nil(t, httpapi.RawRequestBody(api, huma.Operation{Method: http.MethodPost, Path: "/nothing"}))
}
