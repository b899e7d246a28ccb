package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

func TestListUserDeliveriesRefusesBadInputNamingTheField(t *testing.T) {
	t.Parallel()
	h, err := app.NewListUserDeliveriesHandler(memory.New())
	require.NoError(t, err)
	for field, q := range map[string]app.ListUserDeliveries{
		"user_id": {UserID: "anna@example.com"},
		"status":  {UserID: "u1", Status: "delivered"},
		"channel": {UserID: "u1", Channel: "pigeon"},
		"limit":   {UserID: "u1", Limit: 501},
		"cursor":  {UserID: "u1", Cursor: "not a cursor"},
	} {
		_, err := h.Handle(context.Background(), q)
		var inv *app.InvalidInputError
		require.True(t, errors.As(err, &inv), "%s: %v", field, err)
		require.Equal(t, field, inv.Field)
	}
	for _, id := range []string{"", strings.Repeat("u", 129), "u1\x00"} {
		_, err := h.Handle(context.Background(), app.ListUserDeliveries{UserID: id})
		var inv *app.InvalidInputError
		require.True(t, errors.As(err, &inv), "%q", id)
		require.Equal(t, "user_id", inv.Field)
	}
	_, err = app.NewListUserDeliveriesHandler(nil)
	require.Error(t, err)
}

func TestListUserDeliveriesPagesByTheDefaultLimit(t *testing.T) {
	t.Parallel()
	store := memory.New()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range app.DefaultListLimit + 1 {
		_, err := store.InsertPending(context.Background(), []domain.Key{{PostingID: fmt.Sprintf("p%03d", i), UserID: "u1", Channel: "email"}}, at)
		require.NoError(t, err)
	}
	h, err := app.NewListUserDeliveriesHandler(store)
	require.NoError(t, err)
	page, err := h.Handle(context.Background(), app.ListUserDeliveries{UserID: "u1"})
	require.NoError(t, err)
	require.Len(t, page.Items, app.DefaultListLimit)
	require.NotEmpty(t, page.NextCursor)
	rest, err := h.Handle(context.Background(), app.ListUserDeliveries{UserID: "u1", Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Len(t, rest.Items, 1)
	require.Empty(t, rest.NextCursor)
}
