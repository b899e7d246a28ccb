package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// RunSuppressions runs the contract of app.SuppressionStore against stores
// made by newStore; each test gets its own store, and may run in parallel
// with the others.
func RunSuppressions(t *testing.T, newStore func(t *testing.T) app.SuppressionStore) {
	t.Helper()
	tests := map[string]func(t *testing.T, s app.SuppressionStore){
		"SuppressAddsAnAddressOnceAndKeepsTheFirstEntry":      suppressKeepsTheFirstEntry,
		"SuppressRefusesAnUnknownSource":                      suppressRefusesAnUnknownSource,
		"ConcurrentSuppressionsOfOneAddressAddItOnce":         concurrentSuppressionsAddOnce,
		"SuppressedFindsTheListedAddressesOfABatchOnce":       suppressedFindsListedAddressesOnce,
		"ListSuppressionsPagesNewestFirstThroughEveryEntry":   listSuppressionsPagesNewestFirst,
		"ListSuppressionsFiltersByChannelAndAddress":          listSuppressionsFilters,
		"ListSuppressionsRefusesACursorItDidNotIssue":         listSuppressionsRefusesForeignCursor,
		"UnsuppressTakesTheAddressOffOnceThenItIsNotFound":    unsuppressTakesOffOnce,
		"AnAddressTakenOffCanBeSuppressedAgainWithANewReason": suppressAgainAfterUnsuppress,
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newStore(t))
		})
	}
}

func email(v string) domain.Address { return domain.Address{Channel: domain.ChannelEmail, Value: v} }
func phone(v string) domain.Address { return domain.Address{Channel: domain.ChannelSMS, Value: v} }

func entry(a domain.Address, reason, source string, at time.Time) domain.Suppression {
	return domain.Suppression{Address: a, Reason: reason, Source: source, CreatedAt: at}
}

func mustSuppress(t *testing.T, s app.SuppressionStore, e domain.Suppression) {
	t.Helper()
	_, added, err := s.Suppress(context.Background(), e)
	require.NoError(t, err)
	require.True(t, added)
}

// suppressedSet returns what Suppressed found, as a set.
func suppressedSet(t *testing.T, s app.SuppressionStore, addrs ...domain.Address) map[domain.Address]int {
	t.Helper()
	found, err := s.Suppressed(context.Background(), addrs)
	require.NoError(t, err)
	out := map[domain.Address]int{}
	for _, a := range found {
		out[a]++
	}
	return out
}

func suppressKeepsTheFirstEntry(t *testing.T, s app.SuppressionStore) {
	ctx := context.Background()
	first := entry(email("anna@example.com"), "smtp: sending SMTP RCPT TO command: 550 5.1.1", domain.SourceDelivery, base)

	got, added, err := s.Suppress(ctx, first)
	require.NoError(t, err)
	require.True(t, added)
	require.Equal(t, first, got)

	again, added, err := s.Suppress(ctx, entry(email("anna@example.com"), "complaint", domain.SourceAPI, base.Add(time.Hour)))
	require.NoError(t, err)
	require.False(t, added, "a repeat adds nothing")
	require.Equal(t, first.Reason, again.Reason, "the first reason stands")
	require.Equal(t, domain.SourceDelivery, again.Source)
	require.True(t, again.CreatedAt.Equal(base), "the first time stands")

	page, err := s.ListSuppressions(ctx, app.SuppressionQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
}

func suppressRefusesAnUnknownSource(t *testing.T, s app.SuppressionStore) {
	_, _, err := s.Suppress(context.Background(), entry(email("anna@example.com"), "bounce", "pigeon", base))
	require.Error(t, err)
	require.Empty(t, suppressedSet(t, s, email("anna@example.com")))
}

func concurrentSuppressionsAddOnce(t *testing.T, s app.SuppressionStore) {
	const n = 8
	var wg sync.WaitGroup
	added := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, added[i], errs[i] = s.Suppress(context.Background(),
				entry(phone("+79001234567"), "sms gateway: status 422: invalid number", domain.SourceDelivery, base.Add(time.Duration(i)*time.Second)))
		})
	}
	wg.Wait()
	count := 0
	for i := range n {
		require.NoError(t, errs[i])
		if added[i] {
			count++
		}
	}
	require.Equal(t, 1, count, "one of the concurrent calls adds it")
	require.Equal(t, map[domain.Address]int{phone("+79001234567"): 1}, suppressedSet(t, s, phone("+79001234567")))
}

func suppressedFindsListedAddressesOnce(t *testing.T, s app.SuppressionStore) {
	mustSuppress(t, s, entry(email("anna@example.com"), "bounce", domain.SourceAPI, base))
	mustSuppress(t, s, entry(phone("+79001234567"), "invalid number", domain.SourceDelivery, base))

	got := suppressedSet(t, s,
		email("boris@example.com"),
		email("anna@example.com"),
		phone("+79001234567"),
		email("anna@example.com"), // twice in the batch
		domain.Address{Channel: domain.ChannelSMS, Value: "anna@example.com"}, // same text, other channel
		email("ANNA@example.com"), // compared as given: callers normalize
	)
	require.Equal(t, map[domain.Address]int{email("anna@example.com"): 1, phone("+79001234567"): 1}, got)

	require.Empty(t, suppressedSet(t, s))
	require.Empty(t, suppressedSet(t, s, email("vera@example.com")))
}

func listSuppressionsPagesNewestFirst(t *testing.T, s app.SuppressionStore) {
	// Two entries share a time: channel, then address, orders them.
	mustSuppress(t, s, entry(email("old@example.com"), "bounce", domain.SourceAPI, base))
	mustSuppress(t, s, entry(phone("+79000000002"), "invalid number", domain.SourceDelivery, base.Add(time.Minute)))
	mustSuppress(t, s, entry(email("b@example.com"), "bounce", domain.SourceAPI, base.Add(time.Minute)))
	mustSuppress(t, s, entry(email("a@example.com"), "complaint", domain.SourceAPI, base.Add(time.Minute)))
	mustSuppress(t, s, entry(email("new@example.com"), "bounce", domain.SourceAPI, base.Add(time.Hour)))

	var got []string
	cursor := ""
	for i := 0; ; i++ {
		require.Less(t, i, 10, "the cursor never ends")
		page, err := s.ListSuppressions(context.Background(), app.SuppressionQuery{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Items), 2)
		for _, e := range page.Items {
			got = append(got, e.Value)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, []string{"new@example.com", "a@example.com", "b@example.com", "+79000000002", "old@example.com"}, got)

	page, err := s.ListSuppressions(context.Background(), app.SuppressionQuery{Limit: 5})
	require.NoError(t, err)
	require.Len(t, page.Items, 5)
	require.Empty(t, page.NextCursor, "no next page when the last one is full")
	last := page.Items[4]
	require.Equal(t, "bounce", last.Reason)
	require.Equal(t, domain.SourceAPI, last.Source)
	require.True(t, last.CreatedAt.Equal(base))

	_, err = s.ListSuppressions(context.Background(), app.SuppressionQuery{Limit: 0})
	require.Error(t, err, "a limit below 1 is refused")
}

func listSuppressionsFilters(t *testing.T, s app.SuppressionStore) {
	mustSuppress(t, s, entry(email("anna@example.com"), "bounce", domain.SourceAPI, base))
	mustSuppress(t, s, entry(email("boris@example.com"), "bounce", domain.SourceAPI, base))
	mustSuppress(t, s, entry(phone("+79001234567"), "invalid number", domain.SourceDelivery, base))
	ctx := context.Background()

	page, err := s.ListSuppressions(ctx, app.SuppressionQuery{Channel: domain.ChannelSMS, Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, phone("+79001234567"), page.Items[0].Address)

	page, err = s.ListSuppressions(ctx, app.SuppressionQuery{Channel: domain.ChannelEmail, Address: "boris@example.com", Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, email("boris@example.com"), page.Items[0].Address)

	page, err = s.ListSuppressions(ctx, app.SuppressionQuery{Channel: domain.ChannelSMS, Address: "boris@example.com", Limit: 10})
	require.NoError(t, err)
	require.Empty(t, page.Items, "the address on another channel")
	require.Empty(t, page.NextCursor)
}

func listSuppressionsRefusesForeignCursor(t *testing.T, s app.SuppressionStore) {
	for _, cursor := range []string{"not base64!", "dXNlcg", app.EncodeCursor(domain.Key{PostingID: "p", UserID: "u", Channel: "email"})} {
		_, err := s.ListSuppressions(context.Background(), app.SuppressionQuery{Limit: 10, Cursor: cursor})
		require.ErrorIs(t, err, app.ErrInvalidCursor, cursor)
	}
}

func unsuppressTakesOffOnce(t *testing.T, s app.SuppressionStore) {
	ctx := context.Background()
	mustSuppress(t, s, entry(email("anna@example.com"), "bounce", domain.SourceAPI, base))
	mustSuppress(t, s, entry(email("boris@example.com"), "bounce", domain.SourceAPI, base))

	require.NoError(t, s.Unsuppress(ctx, email("anna@example.com")))
	require.Equal(t, map[domain.Address]int{email("boris@example.com"): 1},
		suppressedSet(t, s, email("anna@example.com"), email("boris@example.com")))
	require.ErrorIs(t, s.Unsuppress(ctx, email("anna@example.com")), app.ErrSuppressionNotFound)
	require.ErrorIs(t, s.Unsuppress(ctx, phone("boris@example.com")), app.ErrSuppressionNotFound, "the channel is part of the key")
}

func suppressAgainAfterUnsuppress(t *testing.T, s app.SuppressionStore) {
	ctx := context.Background()
	mustSuppress(t, s, entry(email("anna@example.com"), "bounce", domain.SourceAPI, base))
	require.NoError(t, s.Unsuppress(ctx, email("anna@example.com")))

	got, added, err := s.Suppress(ctx, entry(email("anna@example.com"), "complaint", domain.SourceAPI, base.Add(time.Hour)))
	require.NoError(t, err)
	require.True(t, added)
	require.Equal(t, "complaint", got.Reason)
	require.True(t, got.CreatedAt.Equal(base.Add(time.Hour)))
}
