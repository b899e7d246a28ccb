package quiethours_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/quiethours"
)

func window(t *testing.T, start, end string) quiethours.Window {
	t.Helper()
	w, err := quiethours.Parse(start, end)
	require.NoError(t, err)
	return w
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestAWindowOverMidnightIsQuietUntilItsEndTheNextMorning(t *testing.T) {
	t.Parallel()
	w := window(t, "22:00", "08:00")
	moscow := zone(t, "Europe/Moscow")
	cases := []struct {
		local string
		quiet bool
		until string
	}{
		{"2026-12-06 21:59", false, ""},
		{"2026-12-06 22:00", true, "2026-12-07 08:00"},
		{"2026-12-06 23:30", true, "2026-12-07 08:00"},
		{"2026-12-07 00:00", true, "2026-12-07 08:00"},
		{"2026-12-07 07:59", true, "2026-12-07 08:00"},
		{"2026-12-07 08:00", false, ""},
		{"2026-12-07 12:00", false, ""},
	}
	for _, tc := range cases {
		now, err := time.ParseInLocation("2006-01-02 15:04", tc.local, moscow)
		require.NoError(t, err)
		end, quiet := w.Until(now.UTC(), moscow)
		assert.Equal(t, tc.quiet, quiet, tc.local)
		if tc.quiet {
			assert.Equal(t, tc.until, end.In(moscow).Format("2006-01-02 15:04"), tc.local)
		}
	}
}

func TestAWindowWithinADayAndAnEmptyOne(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	w := window(t, "13:00", "15:30")
	_, quiet := w.Until(time.Date(2026, 1, 1, 12, 59, 0, 0, utc), utc)
	assert.False(t, quiet)
	end, quiet := w.Until(time.Date(2026, 1, 1, 13, 0, 0, 0, utc), utc)
	assert.True(t, quiet)
	assert.Equal(t, time.Date(2026, 1, 1, 15, 30, 0, 0, utc), end)
	_, quiet = w.Until(time.Date(2026, 1, 1, 15, 30, 0, 0, utc), utc)
	assert.False(t, quiet)

	empty := window(t, "00:00", "00:00")
	assert.True(t, empty.Empty())
	_, quiet = empty.Until(time.Date(2026, 1, 1, 0, 0, 0, 0, utc), utc)
	assert.False(t, quiet, "start == end: never quiet")
	assert.True(t, quiethours.Window{}.Empty())
}

// Quiet hours are wall-clock hours: across a daylight-saving change the
// window still ends at 08:00 local, so the night is an hour shorter or
// longer.
func TestTheWindowFollowsTheWallClockAcrossDaylightSavingChanges(t *testing.T) {
	t.Parallel()
	w := window(t, "22:00", "08:00")
	berlin := zone(t, "Europe/Berlin")

	// Spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST.
	spring := time.Date(2026, 3, 28, 22, 0, 0, 0, berlin)
	end, quiet := w.Until(spring, berlin)
	require.True(t, quiet)
	assert.Equal(t, time.Date(2026, 3, 29, 8, 0, 0, 0, berlin), end)
	assert.Equal(t, 9*time.Hour, end.Sub(spring), "an hour shorter")
	_, offset := end.Zone()
	assert.Equal(t, 2*3600, offset, "08:00 CEST")

	// Fall back: 2026-10-25 03:00 CEST becomes 02:00 CET.
	fall := time.Date(2026, 10, 24, 22, 0, 0, 0, berlin)
	end, quiet = w.Until(fall, berlin)
	require.True(t, quiet)
	assert.Equal(t, 11*time.Hour, end.Sub(fall), "an hour longer")

	// In the repeated hour (02:30 happens twice), still quiet until 08:00.
	repeated := time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC) // 02:30 CET, the second one
	end, quiet = w.Until(repeated, berlin)
	require.True(t, quiet)
	assert.Equal(t, "2026-10-25 08:00 CET", end.In(berlin).Format("2006-01-02 15:04 MST"))

	// A window ending in the skipped hour ends just after the jump.
	skipped := window(t, "01:00", "02:30")
	end, quiet = skipped.Until(time.Date(2026, 3, 29, 1, 30, 0, 0, berlin), berlin)
	require.True(t, quiet)
	assert.Equal(t, "2026-03-29 03:30 CEST", end.In(berlin).Format("2006-01-02 15:04 MST"), "02:30 does not exist that night")
}

func TestMalformedTimesAreRefused(t *testing.T) {
	t.Parallel()
	for _, bad := range [][2]string{
		{"22:00", ""}, {"", "08:00"}, {"24:00", "08:00"}, {"22:60", "08:00"}, {"7:00", "08:00"},
		{"22.00", "08:00"}, {"22:00", "8am"}, {"-1:00", "08:00"}, {"22:0a", "08:00"}, {"22:00:00", "08:00"},
	} {
		_, err := quiethours.Parse(bad[0], bad[1])
		assert.ErrorIs(t, err, quiethours.ErrMalformed, "%q-%q", bad[0], bad[1])
	}
	w := window(t, "07:05", "23:59")
	assert.Equal(t, "07:05-23:59", w.String())
}

func TestZonesAreLoadedOnceAndUnknownNamesAreRefused(t *testing.T) {
	t.Parallel()
	var z quiethours.Zones
	loc, ok := z.Location("Asia/Yekaterinburg")
	require.True(t, ok)
	again, _ := z.Location("Asia/Yekaterinburg")
	assert.Same(t, loc, again)
	for _, bad := range []string{"", "Mars/Olympus", "Local", "../etc/passwd", "europe/moscow "} {
		_, ok := z.Location(bad)
		assert.False(t, ok, bad)
	}
}

func TestNextIsTheNextTimeTheWallClockReadsIt(t *testing.T) {
	t.Parallel()
	berlin := zone(t, "Europe/Berlin")
	ten, err := quiethours.ParseClock("10:00")
	require.NoError(t, err)
	halfPastTwo, err := quiethours.ParseClock("02:30")
	require.NoError(t, err)
	cases := []struct {
		name   string
		minute int
		now    time.Time
		want   time.Time
	}{
		{"later today", ten, time.Date(2026, 12, 6, 8, 0, 0, 0, berlin), time.Date(2026, 12, 6, 10, 0, 0, 0, berlin)},
		{"past today: tomorrow", ten, time.Date(2026, 12, 6, 15, 0, 0, 0, berlin), time.Date(2026, 12, 7, 10, 0, 0, 0, berlin)},
		{"exactly now: tomorrow", ten, time.Date(2026, 12, 6, 10, 0, 0, 0, berlin), time.Date(2026, 12, 7, 10, 0, 0, 0, berlin)},
		// 29 March 2026: Berlin's clocks jump from 02:00 to 03:00.
		{"across the spring jump: the same wall time, one hour fewer", ten,
			time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), time.Date(2026, 3, 29, 10, 0, 0, 0, berlin)},
		{"a wall time the jump skips: just after it", halfPastTwo,
			time.Date(2026, 3, 29, 0, 30, 0, 0, berlin), time.Date(2026, 3, 29, 3, 30, 0, 0, berlin)},
	}
	for _, tc := range cases {
		got := quiethours.Next(tc.minute, tc.now.UTC(), berlin)
		assert.True(t, got.Equal(tc.want), "%s: %s, want %s", tc.name, got, tc.want)
	}
	spring := quiethours.Next(ten, time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), berlin)
	assert.Equal(t, 21*time.Hour, spring.Sub(time.Date(2026, 3, 28, 12, 0, 0, 0, berlin)), "22 wall hours, 21 real ones")
	_, err = quiethours.ParseClock("24:00")
	require.ErrorIs(t, err, quiethours.ErrMalformed)
}
