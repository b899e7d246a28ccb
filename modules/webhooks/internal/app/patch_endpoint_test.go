package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

func (w *world) patchWith(t *testing.T, id uuid.UUID, patch string) app.EndpointView {
	t.Helper()
	v, err := w.patch.Handle(context.Background(), app.PatchEndpoint{ID: id.String(), Patch: []byte(patch)})
	require.NoError(t, err)
	return v
}

func TestTheMessagesWaitingGoToThePatchedURLSignedWithTheSameSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	old, moved := newReceiver(t, answer(204)), newReceiver(t, answer(204))
	e := w.register(t, old.srv.URL+"/hooks", webhooks.EventDeliverySent)
	w.sent(t, postingID, "u1") // waits for the endpoint
	w.clock.Advance(time.Minute)

	v := w.patchWith(t, e.ID, `{"url": "`+moved.srv.URL+`/hooks/v2?token=abc"}`)

	require.Equal(t, moved.srv.URL+"/hooks/v2?token=abc", v.URL)
	require.Equal(t, 1, v.Pending, "the message stays the endpoint's")
	require.Equal(t, e.Secret, v.Secret, "the secret stays")
	require.Equal(t, e.CreatedAt, v.CreatedAt)
	require.True(t, v.UpdatedAt.Equal(w.clock.Now()))
	require.Equal(t, 1, w.dispatch(t))
	require.Empty(t, old.got())
	calls := moved.got()
	require.Len(t, calls, 1)
	require.NoError(t, verify(t, e.Secret, calls[0], true))
	require.Equal(t, "delivery.sent", calls[0].payload(t)["type"])
}

func TestPatchedEventsApplyToTheEventsThatHappenAfter(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, answer(204))
	e := w.register(t, r.srv.URL, webhooks.EventDeliverySent)
	w.sent(t, postingID, "before")

	v := w.patchWith(t, e.ID, `{"events": ["posting.completed", "delivery.failed", "delivery.failed"]}`)
	require.Equal(t, []string{webhooks.EventDeliveryFailed, webhooks.EventPostingCompleted}, v.Events, "each once, in a stable order")
	w.sent(t, postingID, "after") // no longer subscribed
	w.report(t, postingID, delivery.Outcome{UserID: "late", Channel: "email", Status: delivery.StatusFailed, Error: "refused", At: w.clock.Now()})

	require.Equal(t, 2, w.dispatch(t))
	var users []any
	for _, c := range r.got() {
		users = append(users, c.payload(t)["data"].(map[string]any)["user_id"])
	}
	require.ElementsMatch(t, []any{"before", "late"}, users, "the delivery.sent of before the patch is still sent")
}

func TestAPatchChangesOnlyWhatItNames(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	e, err := w.create.Handle(context.Background(), app.CreateEndpoint{URL: "http://127.0.0.1:9/hooks", Events: []string{webhooks.EventDeliverySent}, Description: "CRM"})
	require.NoError(t, err)
	w.clock.Advance(time.Minute)

	v := w.patchWith(t, e.ID, `{"description": "CRM, v2"}`)
	require.Equal(t, "CRM, v2", v.Description)
	require.Equal(t, e.URL, v.URL)
	require.Equal(t, e.Events, v.Events)

	v = w.patchWith(t, e.ID, `{"description": null}`)
	require.Empty(t, v.Description, "null removes it")
	require.Equal(t, v, w.endpoint(t, e.ID), "GET shows what PATCH answered")
}

func TestAnEmptyPatchChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	e := w.register(t, "http://127.0.0.1:9/hooks", webhooks.EventDeliverySent)
	w.clock.Advance(time.Hour)

	for _, patch := range []string{`{}`, `{"url": "http://127.0.0.1:9/hooks", "events": ["delivery.sent"]}`} {
		v := w.patchWith(t, e.ID, patch)
		require.True(t, v.UpdatedAt.Equal(e.UpdatedAt), "%s: updated_at moves only with a change", patch)
		require.Equal(t, e.URL, v.URL)
	}
}

func TestAPatchLeavesADisabledEndpointDisabled(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	e := w.register(t, "http://127.0.0.1:9/hooks", webhooks.EventDeliverySent)
	_, err := w.store.UpdateEndpoint(context.Background(), e.ID, func(e *domain.Endpoint) error {
		e.Disable("the endpoint answered 410 Gone", w.clock.Now())
		return nil
	})
	require.NoError(t, err)

	_, err = w.patch.Handle(context.Background(), app.PatchEndpoint{ID: e.ID.String(), Patch: []byte(`{"enabled": true, "url": "http://127.0.0.1:10/hooks"}`)})
	var inv *app.InvalidInputError
	require.ErrorAs(t, err, &inv, "enabling is POST .../enable's")
	require.Equal(t, "enabled", inv.Field)
	require.Contains(t, inv.Message, "/enable")
	require.Equal(t, e.URL, w.endpoint(t, e.ID).URL, "nothing changed")

	v := w.patchWith(t, e.ID, `{"url": "http://127.0.0.1:10/hooks", "enabled": false}`)

	require.Equal(t, "http://127.0.0.1:10/hooks", v.URL)
	require.False(t, v.Enabled(), "enable says when it may be called again")
	require.Equal(t, "the endpoint answered 410 Gone", v.DisabledReason)
}

func TestThePatchMayCarryWhatGetAnswered(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	e := w.register(t, "http://127.0.0.1:9/hooks", webhooks.EventDeliverySent)
	w.clock.Advance(time.Hour)

	v := w.patchWith(t, e.ID, `{"id": "`+e.ID.String()+`", "enabled": true, "pending_messages": 7, "created_at": "1999-01-01T00:00:00Z",
		"updated_at": "1999-01-01T00:00:00Z", "last_success_at": null, "disabled_reason": "x", "description": "CRM"}`)

	require.Equal(t, "CRM", v.Description)
	require.True(t, v.Enabled())
	require.True(t, v.CreatedAt.Equal(e.CreatedAt), "read-only members are ignored")
	require.True(t, v.UpdatedAt.Equal(w.clock.Now()))
	require.Empty(t, v.DisabledReason)
}

func TestBadPatchesAreRefusedAndChangeNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, patch string
		field       string // empty: malformed
		says        string
	}{
		{"not JSON", `{"url": `, "", ""},
		{"an array", `[{"op": "replace", "path": "/url", "value": "http://127.0.0.1/"}]`, "", ""},
		{"null", `null`, "", ""},
		{"empty", ``, "", ""},
		{"an unknown member", `{"colour": "red"}`, "colour", "unknown field"},
		{"disabling", `{"enabled": false}`, "enabled", "disabled by its failures only"},
		{"enabled not a boolean", `{"enabled": "yes"}`, "enabled", "boolean"},
		{"another endpoint's id", `{"id": "0e8c1d55-7d3c-4a43-9a4e-3f7c8f9b2a10", "description": "x"}`, "id", "not the id"},
		{"the secret", `{"secret": "whsec_mine"}`, "secret", "/rotate"},
		{"url removed", `{"url": null}`, "url", "cannot be removed"},
		{"url a number", `{"url": 5}`, "url", "string"},
		{"url empty", `{"url": ""}`, "url", "required"},
		{"url not http", `{"url": "ftp://127.0.0.1/hooks"}`, "url", "http"},
		{"url with a password", `{"url": "http://u:p@127.0.0.1/hooks"}`, "url", "password"},
		{"url with a fragment", `{"url": "http://127.0.0.1/hooks#x"}`, "url", "fragment"},
		{"url of a host not allowed", `{"url": "https://crm.example.com/hooks"}`, "url", "allowed_hosts"},
		{"url too long", `{"url": "http://127.0.0.1/` + strings.Repeat("x", app.MaxURLLength) + `"}`, "url", "longer"},
		{"events removed", `{"events": null}`, "events", "cannot be removed"},
		{"no events", `{"events": []}`, "events", "at least one"},
		{"events not a list", `{"events": "delivery.sent"}`, "events", "array"},
		{"an unknown event", `{"events": ["delivery.sent", "delivery.opened"]}`, "events[1]", "delivery.opened"},
		{"a long description", `{"description": "` + strings.Repeat("é", app.MaxDescriptionLength+1) + `"}`, "description", "500"},
		{"a description not a string", `{"description": 5}`, "description", "string"},
		{"good and bad together", `{"description": "ok", "url": "ftp://127.0.0.1/"}`, "url", "http"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			e := w.register(t, "http://127.0.0.1:9/hooks", webhooks.EventDeliverySent)

			_, err := w.patch.Handle(context.Background(), app.PatchEndpoint{ID: e.ID.String(), Patch: []byte(tc.patch)})

			if tc.field == "" {
				require.ErrorIs(t, err, app.ErrMalformedPatch)
			} else {
				var inv *app.InvalidInputError
				require.ErrorAs(t, err, &inv)
				require.Equal(t, tc.field, inv.Field)
				require.Contains(t, inv.Message, tc.says)
			}
			stored, err := w.store.GetEndpoint(context.Background(), e.ID)
			require.NoError(t, err)
			require.Equal(t, e, stored, "nothing changed")
		})
	}
}

func TestPatchingAnUnknownEndpointIsNotFound(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		_, err := w.patch.Handle(context.Background(), app.PatchEndpoint{ID: id, Patch: []byte(`{"description": "x"}`)})
		require.ErrorIs(t, err, domain.ErrNotFound, id)
	}
}

func TestConcurrentPatchesOfDifferentMembersAllTakeEffect(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	e := w.register(t, "http://127.0.0.1:9/hooks", webhooks.EventDeliverySent)
	patches := []string{
		`{"url": "http://127.0.0.1:10/hooks"}`,
		`{"events": ["posting.completed"]}`,
		`{"description": "CRM"}`,
	}
	var wg sync.WaitGroup
	for round := range 20 {
		for i, p := range patches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := w.patch.Handle(context.Background(), app.PatchEndpoint{ID: e.ID.String(), Patch: []byte(p)})
				assert.NoError(t, err, "round %d, patch %d", round, i)
			}()
		}
	}
	wg.Wait()

	got := w.endpoint(t, e.ID)
	require.Equal(t, "http://127.0.0.1:10/hooks", got.URL)
	require.Equal(t, []string{webhooks.EventPostingCompleted}, got.Events)
	require.Equal(t, "CRM", got.Description)
}
