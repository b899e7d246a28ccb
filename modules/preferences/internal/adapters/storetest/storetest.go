// Package storetest is the contract every preferences store adapter must
// pass; the memory and PostgreSQL adapters run it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
)

// at is a timestamp at microsecond precision, which PostgreSQL keeps exactly.
var at = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// Run runs the contract against stores made by newStore, each test on a
// fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) app.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s app.Store)
	}{
		{"UserWithoutPreferencesIsNotFound", userWithoutPreferencesIsNotFound},
		{"PutThenGetReturnsWhatWasPut", putThenGetReturnsWhatWasPut},
		{"PutReplacesEverything", putReplacesEverything},
		{"EmptyOverridesAreStored", emptyOverridesAreStored},
		{"GetManyReturnsOnlyUsersWithPreferences", getManyReturnsOnlyUsersWithPreferences},
		{"GetManyOfNoIDsIsEmpty", getManyOfNoIDsIsEmpty},
		{"GetManyHandlesALargeBatch", getManyHandlesALargeBatch},
		{"ReturnedValuesAreCopies", returnedValuesAreCopies},
		{"ConcurrentPutsKeepOneWholeValue", concurrentPutsKeepOneWholeValue},
		{"PutRefusesAnEmptyUserID", putRefusesAnEmptyUserID},
		{"PerTypeSwitchesAreStored", perTypeSwitchesAreStored},
		{"QuietHoursAreStored", quietHoursAreStored},
		{"UpdateOfAUserWithoutPreferencesStartsFromNothing", updateOfAUserWithoutPreferencesStartsFromNothing},
		{"UpdateSeesWhatIsStored", updateSeesWhatIsStored},
		{"FailedUpdateStoresNothing", failedUpdateStoresNothing},
		{"ConcurrentUpdatesLoseNone", concurrentUpdatesLoseNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

func prefs(userID string, channels, types map[string]bool, updated time.Time) domain.UserPreferences {
	return domain.UserPreferences{
		UserID:    userID,
		Overrides: domain.Overrides{Channels: channels, Types: types},
		UpdatedAt: updated,
	}
}

// assertSame compares stored preferences, treating nil and empty maps alike
// and times by instant.
func assertSame(t *testing.T, want, got domain.UserPreferences) {
	t.Helper()
	assert.Equal(t, want.UserID, got.UserID)
	assert.Equal(t, len(want.Overrides.Channels), len(got.Overrides.Channels), "channels: %v", got.Overrides.Channels)
	for k, v := range want.Overrides.Channels {
		g, ok := got.Overrides.Channels[k]
		assert.True(t, ok && g == v, "channel %s: want %v, got %v (present %v)", k, v, g, ok)
	}
	assert.Equal(t, len(want.Overrides.Types), len(got.Overrides.Types), "types: %v", got.Overrides.Types)
	for k, v := range want.Overrides.Types {
		g, ok := got.Overrides.Types[k]
		assert.True(t, ok && g == v, "type %s: want %v, got %v (present %v)", k, v, g, ok)
	}
	assert.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "updated_at: want %v, got %v", want.UpdatedAt, got.UpdatedAt)
}

func userWithoutPreferencesIsNotFound(t *testing.T, s app.Store) {
	_, found, err := s.Get(context.Background(), "nobody")
	require.NoError(t, err)
	assert.False(t, found)
}

func putThenGetReturnsWhatWasPut(t *testing.T, s app.Store) {
	ctx := context.Background()
	want := prefs("u1", map[string]bool{"email": true, "sms": false}, map[string]bool{"new_movies": false, "reactions": true}, at)
	require.NoError(t, s.Put(ctx, want))

	got, found, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	require.True(t, found)
	assertSame(t, want, got)
}

func putReplacesEverything(t *testing.T, s app.Store) {
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, prefs("u1", map[string]bool{"sms": false}, map[string]bool{"new_movies": false, "reactions": false}, at)))
	second := prefs("u1", nil, map[string]bool{"reactions": true}, at.Add(time.Minute))
	require.NoError(t, s.Put(ctx, second))

	got, found, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	require.True(t, found)
	assertSame(t, second, got)
}

func emptyOverridesAreStored(t *testing.T, s app.Store) {
	ctx := context.Background()
	want := prefs("u1", nil, map[string]bool{}, at)
	require.NoError(t, s.Put(ctx, want))

	got, found, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	require.True(t, found, "a user who reset everything still has a stored row (with its updated_at)")
	assertSame(t, want, got)
}

func getManyReturnsOnlyUsersWithPreferences(t *testing.T, s app.Store) {
	ctx := context.Background()
	u1 := prefs("u1", map[string]bool{"email": false}, nil, at)
	u3 := prefs("u3", nil, map[string]bool{"new_movies": false}, at.Add(time.Second))
	require.NoError(t, s.Put(ctx, u1))
	require.NoError(t, s.Put(ctx, prefs("u2", nil, nil, at)))
	require.NoError(t, s.Put(ctx, u3))

	got, err := s.GetMany(ctx, []string{"u1", "u3", "missing", "u1"})
	require.NoError(t, err)
	require.Len(t, got, 2, "u2 was not asked for, missing has nothing stored")
	assertSame(t, u1, got["u1"])
	assertSame(t, u3, got["u3"])
}

func getManyOfNoIDsIsEmpty(t *testing.T, s app.Store) {
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, prefs("u1", nil, nil, at)))
	for _, ids := range [][]string{nil, {}} {
		got, err := s.GetMany(ctx, ids)
		require.NoError(t, err)
		assert.Empty(t, got)
	}
}

func getManyHandlesALargeBatch(t *testing.T, s app.Store) {
	ctx := context.Background()
	const n = 5000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%04d", i)
		if i%10 == 0 {
			require.NoError(t, s.Put(ctx, prefs(ids[i], map[string]bool{"email": false}, nil, at)))
		}
	}
	got, err := s.GetMany(ctx, ids)
	require.NoError(t, err)
	assert.Len(t, got, n/10)
	assert.False(t, got["user-4990"].Overrides.Channels["email"])
	_, present := got["user-4991"]
	assert.False(t, present)
}

func returnedValuesAreCopies(t *testing.T, s app.Store) {
	ctx := context.Background()
	put := prefs("u1", map[string]bool{"email": true}, map[string]bool{"new_movies": true}, at)
	require.NoError(t, s.Put(ctx, put))
	put.Overrides.Channels["email"] = false

	got, _, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	assert.True(t, got.Overrides.Channels["email"], "changing the value after Put must not change the store")
	got.Overrides.Types["new_movies"] = false

	many, err := s.GetMany(ctx, []string{"u1"})
	require.NoError(t, err)
	assert.True(t, many["u1"].Overrides.Types["new_movies"], "changing a returned value must not change the store")
}

func concurrentPutsKeepOneWholeValue(t *testing.T, s app.Store) {
	ctx := context.Background()
	const writers = 8
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			on := i%2 == 0
			assert.NoError(t, s.Put(ctx, prefs("u1", map[string]bool{"email": on, "sms": on}, map[string]bool{"new_movies": on}, at.Add(time.Duration(i)*time.Second))))
		}()
	}
	wg.Wait()

	got, found, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	require.True(t, found)
	email := got.Overrides.Channels["email"]
	assert.Equal(t, email, got.Overrides.Channels["sms"], "a put is atomic: never half of one and half of another")
	assert.Equal(t, email, got.Overrides.Types["new_movies"], "a put is atomic: never half of one and half of another")
}

func putRefusesAnEmptyUserID(t *testing.T, s app.Store) {
	err := s.Put(context.Background(), prefs("", nil, nil, at))
	assert.Error(t, err)
}

func perTypeSwitchesAreStored(t *testing.T, s app.Store) {
	ctx := context.Background()
	want := prefs("u1", nil, nil, at)
	want.Overrides.PerType = map[string]map[string]bool{"new_movies": {"email": true, "sms": false}, "promo": {"sms": true}}
	require.NoError(t, s.Put(ctx, want))

	got, found, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, want.Overrides.PerType, got.Overrides.PerType)
	many, err := s.GetMany(ctx, []string{"u1"})
	require.NoError(t, err)
	assert.Equal(t, want.Overrides.PerType, many["u1"].Overrides.PerType)

	require.NoError(t, s.Put(ctx, prefs("u1", nil, nil, at)))
	got, _, err = s.Get(ctx, "u1")
	require.NoError(t, err)
	assert.Empty(t, got.Overrides.PerType, "a put replaces the per-type switches too")
}

func updateOfAUserWithoutPreferencesStartsFromNothing(t *testing.T, s app.Store) {
	ctx := context.Background()
	got, err := s.Update(ctx, "u1", func(p domain.UserPreferences) (domain.UserPreferences, error) {
		assert.Equal(t, "u1", p.UserID)
		assert.Empty(t, p.Overrides.Channels)
		assert.Empty(t, p.Overrides.Types)
		assert.Empty(t, p.Overrides.PerType)
		assert.True(t, p.UpdatedAt.IsZero(), "never stored: no time")
		p.Overrides.Channels = map[string]bool{"sms": false}
		p.UpdatedAt = at
		return p, nil
	})
	require.NoError(t, err)
	assertSame(t, prefs("u1", map[string]bool{"sms": false}, nil, at), got)
	stored, found, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	require.True(t, found)
	assertSame(t, got, stored)
}

func updateSeesWhatIsStored(t *testing.T, s app.Store) {
	ctx := context.Background()
	before := prefs("u1", map[string]bool{"email": true}, map[string]bool{"new_movies": false}, at)
	before.Overrides.PerType = map[string]map[string]bool{"reactions": {"sms": false}}
	require.NoError(t, s.Put(ctx, before))

	_, err := s.Update(ctx, "u1", func(p domain.UserPreferences) (domain.UserPreferences, error) {
		assertSame(t, before, p)
		assert.Equal(t, before.Overrides.PerType, p.Overrides.PerType)
		p.Overrides.Types["reactions"] = true
		p.UpdatedAt = at.Add(time.Minute)
		return p, nil
	})
	require.NoError(t, err)
	got, _, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"new_movies": false, "reactions": true}, got.Overrides.Types)
	assert.Equal(t, before.Overrides.PerType, got.Overrides.PerType)
	assert.True(t, got.UpdatedAt.Equal(at.Add(time.Minute)))
}

func failedUpdateStoresNothing(t *testing.T, s app.Store) {
	ctx := context.Background()
	refused := errors.New("refused")
	_, err := s.Update(ctx, "new", func(p domain.UserPreferences) (domain.UserPreferences, error) {
		return p, refused
	})
	require.ErrorIs(t, err, refused)
	_, found, err := s.Get(ctx, "new")
	require.NoError(t, err)
	assert.False(t, found, "a failed first update leaves no row")

	require.NoError(t, s.Put(ctx, prefs("u1", map[string]bool{"email": true}, nil, at)))
	_, err = s.Update(ctx, "u1", func(p domain.UserPreferences) (domain.UserPreferences, error) {
		p.Overrides.Channels["email"] = false
		return p, refused
	})
	require.ErrorIs(t, err, refused)
	got, _, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	assert.True(t, got.Overrides.Channels["email"])
	_, err = s.Update(ctx, "", func(p domain.UserPreferences) (domain.UserPreferences, error) { return p, nil })
	assert.Error(t, err)
}

func concurrentUpdatesLoseNone(t *testing.T, s app.Store) {
	ctx := context.Background()
	const writers = 8
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, "u1", func(p domain.UserPreferences) (domain.UserPreferences, error) {
				if p.Overrides.Types == nil {
					p.Overrides.Types = map[string]bool{}
				}
				p.Overrides.Types[fmt.Sprintf("type_%d", i)] = true
				p.UpdatedAt = at
				return p, nil
			})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	got, _, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	assert.Len(t, got.Overrides.Types, writers, "each update saw the ones before it, the first ones of a new user too")
}

func quietHoursAreStored(t *testing.T, s app.Store) {
	ctx := context.Background()
	want := prefs("u1", nil, nil, at)
	want.Overrides.QuietHours = &domain.QuietHours{Start: "23:30", End: "07:00"}
	require.NoError(t, s.Put(ctx, want))
	got, _, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, want.Overrides.QuietHours, got.Overrides.QuietHours)
	many, err := s.GetMany(ctx, []string{"u1"})
	require.NoError(t, err)
	assert.Equal(t, want.Overrides.QuietHours, many["u1"].Overrides.QuietHours)
	got.Overrides.QuietHours.Start = "00:00"
	again, _, err := s.Get(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, "23:30", again.Overrides.QuietHours.Start, "a returned value is a copy")

	require.NoError(t, s.Put(ctx, prefs("u1", nil, nil, at)))
	got, _, err = s.Get(ctx, "u1")
	require.NoError(t, err)
	assert.Nil(t, got.Overrides.QuietHours, "none: the configured window applies")
}
