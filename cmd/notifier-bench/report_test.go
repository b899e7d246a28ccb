package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTableMarksMissedTargetsAndReportsProblemsLoudly(t *testing.T) {
	t.Parallel()
	r := &report{
		Recipients: 1_000_000, SMTPConns: 10, SMTPConnsKey: "delivery.workers.bulk",
		Machine: machine{CPUs: 2, Model: "AMD EPYC"}, Go: "go1.26.8", Notifier: "dev",
		Modes: []modeResult{{
			Mode: "amqp", Recipients: 1_000_000, Rate: 7999, PeakRSS: 151 << 20, Settings: []string{"workers.bulk=10"},
			Codes:    codeResult{Posted: 2, Arrived: 1, Latency: latencySummary{Count: 1, P50: time.Millisecond, P99: 251 * time.Millisecond, Max: 251 * time.Millisecond}},
			Problems: []string{"1 of 2 phone codes never reached the gateway"},
		}},
		Sink: &sinkCeiling{Rate: 10000, Connections: 10},
	}
	var out bytes.Buffer
	printTable(&out, r)
	text := out.String()

	require.Contains(t, text, "7,999 MISSED")
	require.Contains(t, text, "1.0 / 251.0 / 251.0 MISSED")
	require.Contains(t, text, "151 MB MISSED")
	require.Contains(t, text, "÷ sink ceiling 10,000/s")
	require.Contains(t, text, "!! amqp: 1 of 2 phone codes never reached the gateway")
	require.Equal(t, 1, r.problems())
	for line := range strings.Lines(text) {
		require.Equal(t, strings.TrimRight(line, " \n"), strings.TrimSuffix(line, "\n"), "no trailing spaces")
	}
}

func TestThousandsGroupsDigits(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 50000: "50,000", 1000000: "1,000,000", -8000: "-8,000"} {
		require.Equal(t, want, thousands(n))
	}
}
