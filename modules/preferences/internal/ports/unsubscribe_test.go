package ports_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"

	"github.com/notifier/notifier/modules/preferences/internal/adapters/memory"
	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/unsubscribe"
)

const annID = "3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"

type unsubscribeFixture struct {
	api    humatest.TestAPI
	store  *memory.Store
	signer *unsubscribe.Signer
}

func newUnsubscribeAPI(t *testing.T) *unsubscribeFixture {
	t.Helper()
	signer, err := unsubscribe.New("ports-test-unsubscribe-key-of-32-bytes")
	require.NoError(t, err)
	store := memory.NewStore()
	h, err := app.NewUnsubscribeHandler(signer, store, clock.NewFake(now))
	require.NoError(t, err)
	port, err := ports.NewUnsubscribeHTTP(h)
	require.NoError(t, err)
	return &unsubscribeFixture{api: registerRoutes(t, port), store: store, signer: signer}
}

func registerRoutes(t *testing.T, r interface{ RegisterRoutes(huma.API) }) humatest.TestAPI {
	t.Helper()
	cfg := huma.DefaultConfig("Notifier API", "test")
	cfg.CreateHooks = nil
	_, api := humatest.New(t, cfg)
	r.RegisterRoutes(api)
	return api
}

func (f *unsubscribeFixture) token(t *testing.T) string {
	t.Helper()
	token, err := f.signer.Sign(unsubscribe.Subject{UserID: annID, Type: "new_movies", Channel: "email"})
	require.NoError(t, err)
	return token
}

func (f *unsubscribeFixture) perType(t *testing.T) map[string]map[string]bool {
	t.Helper()
	p, _, err := f.store.Get(context.Background(), annID)
	require.NoError(t, err)
	return p.Overrides.PerType
}

func TestTheUnsubscribePageSaysWhatWillHappenAndChangesNothing(t *testing.T) {
	t.Parallel()
	f := newUnsubscribeAPI(t)
	token := f.token(t)

	resp := f.api.Get(unsubscribe.Path + "?token=" + token)

	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	assert.Equal(t, "text/html; charset=utf-8", resp.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header().Get("Cache-Control"))
	assert.Equal(t, "no-referrer", resp.Header().Get("Referrer-Policy"), "the token is in the URL")
	page := resp.Body.String()
	assert.Contains(t, page, `<html lang="ru">`)
	assert.Contains(t, page, "«новые фильмы» по электронной почте")
	assert.Contains(t, page, `<form method="post" action="?token=`+token+`">`)
	assert.Contains(t, page, `<input type="hidden" name="List-Unsubscribe" value="One-Click">`)
	assert.Empty(t, f.perType(t), "a GET never unsubscribes: link scanners fetch links")

	en := f.api.Get(unsubscribe.Path+"?token="+token, "Accept-Language: en-GB,en;q=0.9,ru;q=0.5")
	assert.Contains(t, en.Body.String(), `<html lang="en">`)
	assert.Contains(t, en.Body.String(), "“new movies” notifications by email")
}

func TestOneClickPostUnsubscribesAndARepeatIsHarmless(t *testing.T) {
	t.Parallel()
	f := newUnsubscribeAPI(t)
	path := unsubscribe.Path + "?token=" + f.token(t)

	resp := f.api.Post(path, "Content-Type: application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))

	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	assert.Contains(t, resp.Body.String(), "Вы отписались")
	assert.Equal(t, map[string]map[string]bool{"new_movies": {"email": false}}, f.perType(t))

	again := f.api.Post(path, "Content-Type: application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	require.Equal(t, http.StatusOK, again.Code)
	assert.Equal(t, map[string]map[string]bool{"new_movies": {"email": false}}, f.perType(t))
}

func TestOneClickPostAsMultipartFormData(t *testing.T) {
	t.Parallel()
	f := newUnsubscribeAPI(t)
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	require.NoError(t, w.WriteField("List-Unsubscribe", "One-Click"))
	require.NoError(t, w.Close())

	resp := f.api.Post(unsubscribe.Path+"?token="+f.token(t), "Content-Type: "+w.FormDataContentType(), &body)

	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	assert.Equal(t, map[string]map[string]bool{"new_movies": {"email": false}}, f.perType(t))
}

func TestBadUnsubscribeRequestsAreRefusedWithAPageAndChangeNothing(t *testing.T) {
	t.Parallel()
	f := newUnsubscribeAPI(t)
	token := f.token(t)
	altered := token[:len(token)-2] + "xx"
	form := "Content-Type: application/x-www-form-urlencoded"
	cases := []struct {
		name string
		resp func() *httptest.ResponseRecorder
		says string
	}{
		{"page of a forged token", func() *httptest.ResponseRecorder { return f.api.Get(unsubscribe.Path + "?token=" + altered) }, "Ссылка недействительна"},
		{"page without a token", func() *httptest.ResponseRecorder { return f.api.Get(unsubscribe.Path) }, "Ссылка недействительна"},
		{"post of a forged token", func() *httptest.ResponseRecorder {
			return f.api.Post(unsubscribe.Path+"?token="+altered, form, strings.NewReader("List-Unsubscribe=One-Click"))
		}, "Ссылка недействительна"},
		{"post without One-Click", func() *httptest.ResponseRecorder {
			return f.api.Post(unsubscribe.Path+"?token="+token, form, strings.NewReader("List-Unsubscribe=Yes"))
		}, "List-Unsubscribe=One-Click"},
		{"post of JSON", func() *httptest.ResponseRecorder {
			return f.api.Post(unsubscribe.Path+"?token="+token, "Content-Type: application/json", strings.NewReader(`{"List-Unsubscribe": "One-Click"}`))
		}, "List-Unsubscribe=One-Click"},
		{"post of an empty body", func() *httptest.ResponseRecorder {
			return f.api.Post(unsubscribe.Path+"?token="+token, form, strings.NewReader(""))
		}, "List-Unsubscribe=One-Click"},
	}
	for _, tc := range cases {
		resp := tc.resp()
		assert.Equal(t, http.StatusBadRequest, resp.Code, tc.name)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header().Get("Content-Type"), tc.name)
		assert.Contains(t, resp.Body.String(), tc.says, tc.name)
		assert.NotContains(t, resp.Body.String(), "<form", "%s: no button to press", tc.name)
	}
	assert.Empty(t, f.perType(t))
}

func TestTheUnsubscribeOperationsNeedNoBearer(t *testing.T) {
	t.Parallel()
	f := newUnsubscribeAPI(t)
	item := f.api.OpenAPI().Paths[unsubscribe.Path]
	require.NotNil(t, item)
	for _, op := range []*huma.Operation{item.Get, item.Post} {
		require.NotNil(t, op)
		assert.Empty(t, op.Security, op.OperationID)
	}
	assert.Contains(t, item.Post.RequestBody.Content, "application/x-www-form-urlencoded")
	assert.NotContains(t, item.Post.RequestBody.Content, "application/octet-stream")
}
