package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSummarizeUsesNearestRankPercentiles(t *testing.T) {
	t.Parallel()
	ms := func(from, to int) []time.Duration {
		var out []time.Duration
		for i := to; i >= from; i-- { // unsorted on purpose
			out = append(out, time.Duration(i)*time.Millisecond)
		}
		return out
	}
	require.Equal(t, latencySummary{Count: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}, summarize(ms(1, 100)))
	require.Equal(t, latencySummary{Count: 10, P50: 5 * time.Millisecond, P99: 10 * time.Millisecond, Max: 10 * time.Millisecond}, summarize(ms(1, 10)),
		"with fewer than 100 values p99 is the maximum")
	require.Equal(t, latencySummary{Count: 1, P50: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond}, summarize(ms(7, 7)))
	require.Equal(t, latencySummary{}, summarize(nil))
	require.Equal(t, 1*time.Millisecond, percentile(ms(1, 1000)[999:], 0.01), "the smallest rank is the first value")
}
