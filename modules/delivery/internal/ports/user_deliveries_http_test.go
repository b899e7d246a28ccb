package ports_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/modules/delivery/internal/ports"
)

func newUserDeliveriesAPI(t *testing.T, store app.Store) humatest.TestAPI {
	t.Helper()
	list, err := app.NewListUserDeliveriesHandler(store)
	require.NoError(t, err)
	port, err := ports.NewUserDeliveriesHTTP(list)
	require.NoError(t, err)
	_, api := humatest.New(t)
	port.RegisterRoutes(api)
	return api
}

type userPage struct {
	Items []struct {
		PostingID string     `json:"posting_id"`
		Channel   string     `json:"channel"`
		Status    string     `json:"status"`
		Attempts  int        `json:"attempts"`
		Error     *string    `json:"error"`
		SentAt    *time.Time `json:"sent_at"`
		Provider  *string    `json:"provider"`
		CreatedAt time.Time  `json:"created_at"`
		UpdatedAt time.Time  `json:"updated_at"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func TestAUsersDeliveriesAreListedNewestFirstPageByPage(t *testing.T) {
	t.Parallel()
	store := memory.New()
	ctx := context.Background()
	const user = "1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11"
	for i, p := range []string{"p1", "p2", "p3"} {
		_, err := store.InsertPending(ctx, []domain.Key{
			{PostingID: p, UserID: user, Channel: "email"}, {PostingID: p, UserID: "someone-else", Channel: "email"},
		}, at.Add(time.Duration(i)*time.Hour))
		require.NoError(t, err)
	}
	_, err := store.InsertPending(ctx, []domain.Key{{PostingID: "p3", UserID: user, Channel: "sms"}}, at.Add(2*time.Hour))
	require.NoError(t, err)
	sent := domain.Key{PostingID: "p2", UserID: user, Channel: "email"}
	_, _, err = store.Finish(ctx, sent, app.Final{Status: delivery.StatusSent, MessageID: sent.MessageID(), Provider: "backup", Attempted: true, At: at.Add(time.Hour + time.Second)})
	require.NoError(t, err)
	skipped := domain.Key{PostingID: "p1", UserID: user, Channel: "email"}
	_, err = store.FinishMany(ctx, []app.Transition{{Key: skipped, Final: app.Final{Status: delivery.StatusSkipped, Error: "opted out: channels.email", At: at}}})
	require.NoError(t, err)
	api := newUserDeliveriesAPI(t, store)

	var got []string
	path := "/api/v1/users/" + user + "/deliveries?limit=2"
	for range 10 {
		resp := api.Get(path)
		require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
		require.NotContains(t, resp.Body.String(), "user_id", "the path names the user")
		require.NotContains(t, resp.Body.String(), "@", "never an address")
		p := decode[userPage](t, resp.Body.Bytes())
		require.LessOrEqual(t, len(p.Items), 2)
		for _, it := range p.Items {
			got = append(got, it.PostingID+"/"+it.Channel)
			switch it.PostingID + "/" + it.Channel {
			case "p2/email":
				require.Equal(t, delivery.StatusSent, it.Status)
				require.Equal(t, 1, it.Attempts)
				require.Nil(t, it.Error)
				require.NotNil(t, it.SentAt)
				require.True(t, it.SentAt.Equal(at.Add(time.Hour+time.Second)))
				require.NotNil(t, it.Provider)
				require.Equal(t, "backup", *it.Provider)
				require.True(t, it.CreatedAt.Equal(at.Add(time.Hour)))
				require.True(t, it.UpdatedAt.Equal(at.Add(time.Hour+time.Second)))
			case "p1/email":
				require.Equal(t, delivery.StatusSkipped, it.Status)
				require.Equal(t, "opted out: channels.email", *it.Error)
				require.Nil(t, it.SentAt)
				require.Nil(t, it.Provider, "no provider until sent")
			}
		}
		if p.NextCursor == nil {
			break
		}
		path = "/api/v1/users/" + user + "/deliveries?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	require.Equal(t, []string{"p3/sms", "p3/email", "p2/email", "p1/email"}, got)

	resp := api.Get("/api/v1/users/" + user + "/deliveries?status=pending&channel=email")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	pending := decode[userPage](t, resp.Body.Bytes())
	require.Len(t, pending.Items, 1)
	require.Equal(t, "p3", pending.Items[0].PostingID)
	require.Nil(t, pending.NextCursor)

	resp = api.Get("/api/v1/users/nobody/deliveries")
	require.Equal(t, http.StatusOK, resp.Code)
	require.JSONEq(t, `{"items":[]}`, strings.TrimSpace(resp.Body.String()))
}

func TestBadUserDeliveriesQueriesAre422NamingTheParameter(t *testing.T) {
	t.Parallel()
	api := newUserDeliveriesAPI(t, memory.New())
	for path, location := range map[string]string{
		"/api/v1/users/u1/deliveries?limit=0":                       "query.limit",
		"/api/v1/users/u1/deliveries?limit=501":                     "query.limit",
		"/api/v1/users/u1/deliveries?status=gone":                   "query.status",
		"/api/v1/users/u1/deliveries?channel=pigeon":                "query.channel",
		"/api/v1/users/u1/deliveries?cursor=%21%21":                 "query.cursor",
		"/api/v1/users/u1/deliveries?cursor=dTEAZW1haWw":            "query.cursor", // a posting's listing's cursor
		"/api/v1/users/not%20an%20id/deliveries":                    "path.user_id",
		"/api/v1/users/a%2Fb/deliveries":                            "path.user_id",
		"/api/v1/users/" + strings.Repeat("u", 129) + "/deliveries": "path.user_id",
		"/api/v1/users/%D0%B0%D0%BD%D0%BD%D0%B0/deliveries?limit=1": "path.user_id",
	} {
		resp := api.Get(path)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, "%s: %s", path, resp.Body.String())
		requireFieldNamed(t, resp.Body.Bytes(), location)
		require.Contains(t, resp.Header().Get("Content-Type"), "problem+json")
	}
}

func TestTheOpenAPIDocumentShowsAUsersDeliveriesWithExamples(t *testing.T) {
	t.Parallel()
	api := newUserDeliveriesAPI(t, memory.New())
	op := api.OpenAPI().Paths["/api/v1/users/{user_id}/deliveries"].Get
	require.NotNil(t, op)
	require.Equal(t, "list-user-deliveries", op.OperationID)
	raw, err := json.Marshal(op)
	require.NoError(t, err)
	require.Contains(t, string(raw), "401", "a token is required")
	require.Contains(t, string(raw), "403")
	schema := api.OpenAPI().Components.Schemas.Map()["UserDeliveryItem"]
	require.NotNil(t, schema)
	require.NotContains(t, schema.Properties, "address")
	require.Equal(t, "email", schema.Properties["channel"].Examples[0])
}
