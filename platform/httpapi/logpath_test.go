package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/assert"

	"github.com/notifier/notifier/platform/httpapi"
)

type addressInput struct {
	Address string `path:"address"`
}

func TestThePathLoggedMasksAnAddressInIt(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, httpapi.Config{})
	huma.Register(s.API(), huma.Operation{
		OperationID: "forget-address",
		Method:      http.MethodDelete,
		Path:        "/addresses/{address}",
	}, func(ctx context.Context, in *addressInput) (*struct{}, error) {
		if in.Address == "broken@example.com" {
			return nil, errors.New("the store failed")
		}
		return nil, nil
	})

	do(t, s, http.MethodDelete, "/addresses/anna%40example.com", "", "")
	do(t, s, http.MethodDelete, "/addresses/%2B7%20900%20123-45-67", "", "")
	do(t, s, http.MethodDelete, "/addresses/broken@example.com", "", "")
	do(t, s, http.MethodPost, "/things/42/cancel", managerToken, "")

	out := logs.String()
	assert.Contains(t, out, "path=/addresses/a***@example.com operation=forget-address status=204")
	assert.Contains(t, out, "path=/addresses/***67 operation=forget-address")
	assert.Contains(t, out, "path=/addresses/b***@example.com", "the internal error's log too")
	assert.Contains(t, out, "path=/things/42/cancel", "other parameters are logged as they are")
	for _, leak := range []string{"anna", "123-45", "broken"} {
		assert.NotContains(t, out, leak)
	}
}
