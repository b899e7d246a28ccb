package ports_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/ports"
)

func newDigestsAPI(t *testing.T, store app.DigestStore) humatest.TestAPI {
	t.Helper()
	list, err := app.NewListOpenDigestsHandler(store)
	require.NoError(t, err)
	port, err := ports.NewDigestsHTTP(list)
	require.NoError(t, err)
	_, api := humatest.New(t)
	port.RegisterRoutes(api)
	return api
}

type digestsPage struct {
	Items []struct {
		ID        string    `json:"id"`
		Type      string    `json:"notification_type"`
		Channel   string    `json:"channel"`
		Held      int       `json:"held"`
		DueAt     time.Time `json:"due_at"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"items"`
}

func TestAUsersOpenDigestsAreListedSoonestFirst(t *testing.T) {
	t.Parallel()
	store := memory.NewDigests()
	ctx := context.Background()
	part := func(user, typ, channel, posting string, due time.Time) app.HeldPart {
		return app.HeldPart{
			Key: app.DigestKey{UserID: user, Type: typ, Channel: channel}, Lane: delivery.LaneBulk, Due: due,
			Part: app.DigestPart{PostingID: posting, AddedAt: at, Recipient: delivery.Recipient{UserID: user, Email: user + "@example.com"}},
		}
	}
	require.NoError(t, store.Hold(ctx, []app.HeldPart{
		part("u1", "reactions", "email", "p1", at.Add(time.Hour)),
		part("u1", "reactions", "email", "p2", at.Add(time.Hour)),
		part("u1", "new_episode", "inapp", "p3", at.Add(30*time.Minute)),
		part("u2", "reactions", "email", "p1", at.Add(time.Hour)),
	}))
	api := newDigestsAPI(t, store)

	resp := api.Get("/api/v1/users/u1/digests")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	assert.NotContains(t, resp.Body.String(), "@", "never an address")
	p := decode[digestsPage](t, resp.Body.Bytes())
	require.Len(t, p.Items, 2)
	assert.Equal(t, "new_episode", p.Items[0].Type)
	assert.Equal(t, "inapp", p.Items[0].Channel)
	assert.Equal(t, 1, p.Items[0].Held)
	assert.Equal(t, "reactions", p.Items[1].Type)
	assert.Equal(t, 2, p.Items[1].Held)
	assert.True(t, p.Items[1].DueAt.Equal(at.Add(time.Hour)))
	assert.True(t, p.Items[1].CreatedAt.Equal(at))

	none := api.Get("/api/v1/users/nobody/digests")
	require.Equal(t, http.StatusOK, none.Code)
	assert.JSONEq(t, `{"items": []}`, none.Body.String())
}

func TestAMalformedUserIDIsRefused(t *testing.T) {
	t.Parallel()
	api := newDigestsAPI(t, memory.NewDigests())
	resp := api.Get("/api/v1/users/bad%20id%21/digests")
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	assert.Contains(t, resp.Body.String(), "path.user_id")
}
