package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// RunDigests checks an app.DigestStore; newStore returns an empty store.
func RunDigests(t *testing.T, newStore func(t *testing.T) app.DigestStore) {
	for name, test := range map[string]func(*testing.T, app.DigestStore){
		"HoldJoinsTheOpenDigestOnce":      digestsHoldJoinsOnce,
		"DueClosesAndTheNextPartOpensNew": digestsDueClosesAndNextOpensNew,
		"FailedSendReopens":               digestsFailedSendReopens,
		"PartsComeBackWhole":              digestsPartsComeBackWhole,
		"PurgeForgetsOldClosedOnes":       digestsPurge,
		"ConcurrentHoldsAndFlushesLoseNo": digestsConcurrentHoldsAndFlushes,
		"HoldsInOppositeOrdersFinish":     digestsOpposedHolds,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newStore(t))
		})
	}
}

var digestStart = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func heldPart(user, posting string, at time.Time) app.HeldPart {
	return app.HeldPart{
		Key:  app.DigestKey{UserID: user, Type: "reactions", Channel: "email"},
		Lane: delivery.LaneBulk,
		Due:  at.Add(time.Hour),
		Part: app.DigestPart{PostingID: posting, AddedAt: at,
			Recipient: delivery.Recipient{UserID: user, Email: user + "@example.com"},
			Context:   map[string]any{"total": float64(3), "reaction_type": "like"}},
	}
}

func take(t *testing.T, s app.DigestStore, now time.Time) []app.Digest {
	t.Helper()
	var got []app.Digest
	_, err := s.Due(context.Background(), now, 100, func(_ context.Context, due []app.Digest) error {
		got = append(got, due...)
		return nil
	})
	require.NoError(t, err)
	return got
}

func postings(parts []app.DigestPart) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.PostingID
	}
	return out
}

func digestsHoldJoinsOnce(t *testing.T, s app.DigestStore) {
	ctx := context.Background()
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u1", "p1", digestStart), heldPart("u2", "p1", digestStart)}))
	later := heldPart("u1", "p2", digestStart.Add(10*time.Minute))
	require.NoError(t, s.Hold(ctx, []app.HeldPart{later, heldPart("u1", "p1", digestStart.Add(20*time.Minute))}),
		"p1 again: a redelivered batch")

	open, err := s.OpenOf(ctx, "u1")
	require.NoError(t, err)
	require.Len(t, open, 1, "one open digest per user, type and channel")
	assert.Equal(t, 2, open[0].Parts)
	assert.True(t, open[0].DueAt.Equal(digestStart.Add(time.Hour)), "the first part's due: %s", open[0].DueAt)
	assert.Equal(t, app.DigestKey{UserID: "u1", Type: "reactions", Channel: "email"}, open[0].Key)

	assert.Empty(t, take(t, s, digestStart.Add(time.Hour-time.Second)))
	due := take(t, s, digestStart.Add(time.Hour))
	require.Len(t, due, 2)
	d, parts, found, err := s.Load(ctx, due[0].ID)
	require.NoError(t, err)
	require.True(t, found)
	assert.False(t, d.ClosedAt.IsZero(), "closed")
	if d.Key.UserID == "u1" {
		assert.Equal(t, []string{"p1", "p2"}, postings(parts), "oldest first")
	}
	assert.Empty(t, take(t, s, digestStart.Add(2*time.Hour)), "closed once")
	_, _, found, err = s.Load(ctx, "4b1c8c1e-0000-4000-8000-000000000000")
	require.NoError(t, err)
	assert.False(t, found)
	_, _, found, err = s.Load(ctx, "not-a-uuid")
	require.NoError(t, err)
	assert.False(t, found)
}

func digestsDueClosesAndNextOpensNew(t *testing.T, s app.DigestStore) {
	ctx := context.Background()
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u1", "p1", digestStart)}))
	first := take(t, s, digestStart.Add(time.Hour))
	require.Len(t, first, 1)
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u1", "p2", digestStart.Add(time.Hour))}))
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u1", "p1", digestStart.Add(time.Hour))}), "held in the closed one already")
	open, err := s.OpenOf(ctx, "u1")
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.NotEqual(t, first[0].ID, open[0].ID)
	assert.Equal(t, 1, open[0].Parts, "p1 stays in the closed digest")
	assert.True(t, open[0].DueAt.Equal(digestStart.Add(2*time.Hour)))
	_, parts, _, err := s.Load(ctx, first[0].ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"p1"}, postings(parts))

	// A batch whose parts were all held already opens nothing.
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u9", "p1", digestStart)}))
	require.Len(t, take(t, s, digestStart.Add(time.Hour)), 1)
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u9", "p1", digestStart.Add(time.Hour))}))
	open, err = s.OpenOf(ctx, "u9")
	require.NoError(t, err)
	assert.Empty(t, open)
}

func digestsFailedSendReopens(t *testing.T, s app.DigestStore) {
	ctx := context.Background()
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u1", "p1", digestStart)}))
	_, err := s.Due(ctx, digestStart.Add(time.Hour), 10, func(context.Context, []app.Digest) error { return errors.New("bus down") })
	require.Error(t, err)
	open, err := s.OpenOf(ctx, "u1")
	require.NoError(t, err)
	require.Len(t, open, 1, "open again")
	require.Len(t, take(t, s, digestStart.Add(time.Hour)), 1)
}

func digestsPartsComeBackWhole(t *testing.T, s app.DigestStore) {
	ctx := context.Background()
	expires := digestStart.Add(3 * time.Hour)
	p := heldPart("u1", "p1", digestStart)
	p.Part.ExpiresAt = &expires
	p.Part.Unsubscribe = true
	p.Part.WebhookURL = "https://hooks.example.com/posting"
	p.Part.Template = "email/reactions_summary.md"
	p.Part.QuietHours = &delivery.QuietHours{Start: "22:00", End: "08:00", Zone: "Europe/Moscow"}
	p.Part.Recipient.Locale = "en-GB"
	ref := heldPart("u1", "p2", digestStart.Add(time.Minute))
	ref.Part.Context, ref.Part.ContextRef = nil, "ctx-ref-1"
	require.NoError(t, s.Hold(ctx, []app.HeldPart{p, ref}))
	due := take(t, s, digestStart.Add(time.Hour))
	require.Len(t, due, 1)
	assert.Equal(t, delivery.LaneBulk, due[0].Lane)
	_, parts, found, err := s.Load(ctx, due[0].ID)
	require.NoError(t, err)
	require.True(t, found)
	require.Len(t, parts, 2)
	got := parts[0]
	require.NotNil(t, got.ExpiresAt)
	assert.True(t, got.ExpiresAt.Equal(expires))
	assert.True(t, got.AddedAt.Equal(digestStart))
	assert.True(t, got.Unsubscribe)
	assert.Equal(t, "https://hooks.example.com/posting", got.WebhookURL)
	assert.Equal(t, "email/reactions_summary.md", got.Template)
	assert.Equal(t, "Europe/Moscow", got.QuietHours.Zone)
	assert.Equal(t, "en-GB", got.Recipient.Locale)
	assert.Equal(t, "u1@example.com", got.Recipient.Email)
	assert.EqualValues(t, 3, got.Context["total"])
	assert.Equal(t, "ctx-ref-1", parts[1].ContextRef)
	assert.Nil(t, parts[1].Context)
}

func digestsPurge(t *testing.T, s app.DigestStore) {
	ctx := context.Background()
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u1", "p1", digestStart)}))
	closed := take(t, s, digestStart.Add(time.Hour))
	require.Len(t, closed, 1)
	require.NoError(t, s.Hold(ctx, []app.HeldPart{heldPart("u1", "p2", digestStart.Add(time.Hour))}))
	n, err := s.Purge(ctx, digestStart.Add(time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n, "closed at the cut: kept")
	n, err = s.Purge(ctx, digestStart.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, _, found, err := s.Load(ctx, closed[0].ID)
	require.NoError(t, err)
	assert.False(t, found)
	open, err := s.OpenOf(ctx, "u1")
	require.NoError(t, err)
	assert.Len(t, open, 1, "an open digest is never purged")
}

// Parts held while flushes close digests all end up in exactly one
// digest: none is lost to a digest closing under it, none held twice. A
// hold that fails fails whole (and is tried again, as its batch would be).
func digestsConcurrentHoldsAndFlushes(t *testing.T, s app.DigestStore) {
	ctx := context.Background()
	const holders, each = 4, 25
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed []app.Digest
	)
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			default:
			}
			got := take(t, s, digestStart.Add(24*time.Hour))
			mu.Lock()
			closed = append(closed, got...)
			mu.Unlock()
		}
	}()
	for h := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := heldPart("u1", "p"+string(rune('a'+h))+time.Duration(i).String(), digestStart)
				// Every digest is due at once here, so a hold can keep
				// losing its digest to the flush; it fails then, whole,
				// and the batch is redelivered: so here.
				var err error
				for range 10 {
					if err = s.Hold(ctx, []app.HeldPart{p, p}); err == nil {
						break
					}
				}
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-flushed
	closed = append(closed, take(t, s, digestStart.Add(24*time.Hour))...)
	seen := map[string]int{}
	for _, d := range closed {
		_, parts, found, err := s.Load(ctx, d.ID)
		require.NoError(t, err)
		require.True(t, found)
		for _, p := range parts {
			seen[p.PostingID]++
		}
	}
	assert.Len(t, seen, holders*each, "every part is in a closed digest")
	for p, n := range seen {
		assert.Equal(t, 1, n, p)
	}
}

// Batches holding the same users' parts in opposite orders at once all
// succeed: the holds lock in one order whatever the batch's.
func digestsOpposedHolds(t *testing.T, s app.DigestStore) {
	ctx := context.Background()
	users := []string{"u1", "u2", "u3", "u4"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				var parts []app.HeldPart
				for j := range users {
					u := users[j]
					if g%2 == 1 {
						u = users[len(users)-1-j]
					}
					parts = append(parts, heldPart(u, "p"+string(rune('a'+g))+time.Duration(i).String(), digestStart))
				}
				assert.NoError(t, s.Hold(ctx, parts))
			}
		}()
	}
	wg.Wait()
	for _, u := range users {
		open, err := s.OpenOf(ctx, u)
		require.NoError(t, err)
		require.Len(t, open, 1)
		assert.Equal(t, 60, open[0].Parts, u)
	}
}
