package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// suppressionCases are the use cases of the suppression list on one memory
// list and a fake clock.
type suppressionCases struct {
	list    *memory.Suppressions
	clock   *clock.Fake
	metrics *recordedMetrics
	add     *app.AddSuppressionHandler
	query   *app.ListSuppressionsHandler
	remove  *app.DeleteSuppressionHandler
}

func newSuppressionCases(t *testing.T) *suppressionCases {
	t.Helper()
	c := &suppressionCases{list: memory.NewSuppressions(), clock: clock.NewFake(start), metrics: newRecordedMetrics()}
	var err error
	c.add, err = app.NewAddSuppressionHandler(c.list, c.clock, discard(), c.metrics)
	require.NoError(t, err)
	c.query, err = app.NewListSuppressionsHandler(c.list)
	require.NoError(t, err)
	c.remove, err = app.NewDeleteSuppressionHandler(c.list, discard())
	require.NoError(t, err)
	return c
}

func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var inv *app.InvalidInputError
	require.True(t, errors.As(err, &inv), "%v", err)
	require.Equal(t, field, inv.Field, inv.Error())
}

func TestAPostedAddressIsNormalizedAndAddedOnce(t *testing.T) {
	t.Parallel()
	c := newSuppressionCases(t)
	ctx := context.Background()

	e, added, err := c.add.Handle(ctx, app.AddSuppression{Address: " Anna@Example.com", Reason: " bounce "})
	require.NoError(t, err)
	require.True(t, added)
	require.Equal(t, domain.Suppression{Address: domain.Address{Channel: "email", Value: "anna@example.com"},
		Reason: "bounce", Source: domain.SourceAPI, CreatedAt: start}, e)

	c.clock.Advance(time.Hour)
	again, added, err := c.add.Handle(ctx, app.AddSuppression{Address: "anna@example.com", Channel: "email", Reason: "complaint"})
	require.NoError(t, err)
	require.False(t, added)
	require.Equal(t, e, again, "the first entry stands")

	e, added, err = c.add.Handle(ctx, app.AddSuppression{Address: "+7 900 123-45-67", Reason: "invalid number"})
	require.NoError(t, err)
	require.True(t, added)
	require.Equal(t, domain.Address{Channel: "sms", Value: "+79001234567"}, e.Address)

	_, added2 := c.metrics.suppressions()
	require.Equal(t, map[string]int{"api/email": 1, "api/sms": 1}, added2)
}

func TestABadSuppressionIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	c := newSuppressionCases(t)
	cases := []struct {
		name  string
		cmd   app.AddSuppression
		field string
	}{
		{"no address", app.AddSuppression{Reason: "bounce"}, "address"},
		{"malformed email", app.AddSuppression{Address: "anna@", Reason: "bounce"}, "address"},
		{"name and address", app.AddSuppression{Address: "Anna <anna@example.com>", Reason: "bounce"}, "address"},
		{"not a number", app.AddSuppression{Address: "+7 900 CALL-ME", Reason: "bounce"}, "address"},
		{"email on sms", app.AddSuppression{Address: "anna@example.com", Channel: "sms", Reason: "bounce"}, "address"},
		{"unknown channel", app.AddSuppression{Address: "anna@example.com", Channel: "fax", Reason: "bounce"}, "channel"},
		{"no reason", app.AddSuppression{Address: "anna@example.com", Reason: "  "}, "reason"},
		{"oversized reason", app.AddSuppression{Address: "anna@example.com", Reason: strings.Repeat("я", 501)}, "reason"},
		{"control characters", app.AddSuppression{Address: "anna@example.com", Reason: "bounce\x00"}, "reason"},
	}
	for _, tc := range cases {
		_, _, err := c.add.Handle(context.Background(), tc.cmd)
		requireInvalid(t, err, tc.field)
	}
	_, _, err := c.add.Handle(context.Background(), app.AddSuppression{Address: "anna@example.com", Reason: strings.Repeat("я", 500)})
	require.NoError(t, err, "500 characters are fine")
	page, err := c.query.Handle(context.Background(), app.ListSuppressions{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "nothing bad was added")
}

func TestTheListPagesFiltersAndRefusesBadInput(t *testing.T) {
	t.Parallel()
	c := newSuppressionCases(t)
	ctx := context.Background()
	for _, a := range []string{"a@example.com", "b@example.com", "+79001234567"} {
		_, _, err := c.add.Handle(ctx, app.AddSuppression{Address: a, Reason: "bounce"})
		require.NoError(t, err)
		c.clock.Advance(time.Second)
	}

	page, err := c.query.Handle(ctx, app.ListSuppressions{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"+79001234567", "b@example.com"}, values(page.Items), "newest first")
	page, err = c.query.Handle(ctx, app.ListSuppressions{Limit: 2, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Equal(t, []string{"a@example.com"}, values(page.Items))
	require.Empty(t, page.NextCursor)

	page, err = c.query.Handle(ctx, app.ListSuppressions{Address: "B@EXAMPLE.com"})
	require.NoError(t, err)
	require.Equal(t, []string{"b@example.com"}, values(page.Items), "the filter is normalized as the entries are")
	page, err = c.query.Handle(ctx, app.ListSuppressions{Channel: "sms"})
	require.NoError(t, err)
	require.Equal(t, []string{"+79001234567"}, values(page.Items))

	for field, q := range map[string]app.ListSuppressions{
		"channel": {Channel: "fax"},
		"address": {Address: "not an address"},
		"limit":   {Limit: 501},
		"cursor":  {Cursor: "bogus"},
	} {
		_, err := c.query.Handle(ctx, q)
		requireInvalid(t, err, field)
	}
	_, err = c.query.Handle(ctx, app.ListSuppressions{Limit: -1})
	requireInvalid(t, err, "limit")
}

func TestDeletingTakesTheAddressOffOrSaysItIsNotThere(t *testing.T) {
	t.Parallel()
	c := newSuppressionCases(t)
	ctx := context.Background()
	_, _, err := c.add.Handle(ctx, app.AddSuppression{Address: "anna@example.com", Reason: "bounce"})
	require.NoError(t, err)

	require.NoError(t, c.remove.Handle(ctx, app.DeleteSuppression{Address: "ANNA@example.com"}))
	require.ErrorIs(t, c.remove.Handle(ctx, app.DeleteSuppression{Address: "anna@example.com"}), app.ErrSuppressionNotFound)
	requireInvalid(t, c.remove.Handle(ctx, app.DeleteSuppression{Address: "anna@"}), "address")
	requireInvalid(t, c.remove.Handle(ctx, app.DeleteSuppression{Address: "anna@example.com", Channel: "fax"}), "channel")
}

func TestSuppressionUseCasesRejectMissingDependencies(t *testing.T) {
	t.Parallel()
	_, err := app.NewAddSuppressionHandler(nil, clock.System{}, discard(), nil)
	require.Error(t, err)
	_, err = app.NewListSuppressionsHandler(nil)
	require.Error(t, err)
	_, err = app.NewDeleteSuppressionHandler(nil, discard())
	require.Error(t, err)
}

func TestARecipientRefusedIsPermanentAndSurvivesWrapping(t *testing.T) {
	t.Parallel()
	require.NoError(t, app.RecipientRefused(nil))
	base := errors.New("smtp: sending SMTP RCPT TO command: 550 5.1.1")
	err := app.RecipientRefused(base)
	require.True(t, app.IsRecipientRefused(err))
	require.True(t, app.IsRecipientRefused(errors.Join(errors.New("context"), err)))
	require.ErrorIs(t, err, base)
	require.Equal(t, base.Error(), err.Error())
	require.False(t, app.IsTransient(err))
	require.False(t, app.IsRecipientRefused(base))
	require.False(t, app.IsRecipientRefused(app.Transient(err)), "a transient failure suppresses nothing")
}

func values(items []domain.Suppression) []string {
	out := make([]string, len(items))
	for i, e := range items {
		out[i] = e.Value
	}
	return out
}
