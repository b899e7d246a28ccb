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
		Recipients: 1_000_000, SMTPConns: 10, SMTPConnsKey: "delivery.workers.bulk", SinkKinds: []sinkKind{sinkNone, sinkChunking},
		Machine: machine{CPUs: 2, Model: "AMD EPYC"}, Go: "go1.26.8", Notifier: "dev",
		Modes: []modeResult{{
			Mode: "amqp", SinkExtensions: sinkNone, Instances: 1, Recipients: 1_000_000, Rate: 7999, PeakRSS: 151 << 20,
			Settings: []string{"workers.bulk=10"},
			Codes:    codeResult{Posted: 2, Arrived: 1, Latency: latencySummary{Count: 1, P50: time.Millisecond, P99: 151 * time.Millisecond, Max: 151 * time.Millisecond}},
			Sink:     sinkCounts{Connections: 12, Resets: 1},
			Problems: []string{"1 of 2 phone codes never reached the gateway"},
		}, {
			Mode: "amqp", SinkExtensions: sinkChunking, Instances: 1, Recipients: 1_000_000, Rate: 9000, PeakRSS: 60 << 20,
			Settings: []string{"workers.bulk=10"},
			Codes:    codeResult{Posted: 2, Arrived: 2, Latency: latencySummary{Count: 2, P50: time.Millisecond, P99: 149 * time.Millisecond, Max: 149 * time.Millisecond}},
			Sink:     sinkCounts{Connections: 12},
		}, {
			Mode: "memory", SinkExtensions: sinkNone, Instances: 1, Recipients: 1_000_000, Rate: 60000,
			Codes: codeResult{Posted: 1, Arrived: 1, Latency: latencySummary{Count: 1, P99: 200 * time.Millisecond, Max: 200 * time.Millisecond}},
		}},
		Sinks: []sinkCeiling{{Extensions: sinkNone, Rate: 10000, Connections: 10}, {Extensions: sinkChunking, Rate: 40000, Connections: 10}},
	}
	r.setSinkRatios()
	var out bytes.Buffer
	printTable(&out, r)
	text := out.String()

	require.Contains(t, text, "SMTP servers (the sink offers): none; pipelining,chunking")
	require.Contains(t, text, "7,999 MISSED")
	require.Contains(t, text, "0.80  ", "7,999 of the no-extension sink's 10,000/s")
	require.Contains(t, text, "0.23 MISSED", "9,000 of the chunking sink's 40,000/s")
	require.Contains(t, text, "1.0 / 151.0 / 151.0 MISSED", "over 150 ms in amqp mode")
	require.Contains(t, text, "1.0 / 149.0 / 149.0  ")
	require.Contains(t, text, "0.0 / 200.0 / 200.0  ", "under the 250 ms of the other modes")
	require.Contains(t, text, "12 / 1 / 0 MISSED", "an RSET at the sink")
	require.Contains(t, text, "151 MB MISSED")
	require.Contains(t, text, "10,000 (0.0 cores)")
	require.Contains(t, text, "40,000 (0.0 cores)")
	require.Contains(t, text, "!! amqp, SMTP none: 1 of 2 phone codes never reached the gateway")
	require.Equal(t, 1, strings.Count(text, "amqp delivery settings"), "once a mode")
	require.NotContains(t, text, "notifier instances", "one instance each")
	require.Equal(t, 1, r.problems())
	for line := range strings.Lines(text) {
		require.Equal(t, strings.TrimRight(line, " \n"), strings.TrimSuffix(line, "\n"), "no trailing spaces")
	}
}

func TestTableShowsEachInstancesMemory(t *testing.T) {
	t.Parallel()
	r := &report{Recipients: 10, SMTPConns: 10, SinkKinds: []sinkKind{sinkChunking}, Instances: 2, Modes: []modeResult{{
		Mode: "amqp", SinkExtensions: sinkChunking, Instances: 2, Recipients: 10, PeakRSS: 60 << 20,
		PerInstance: []instanceResult{{PeakRSS: 60 << 20, LogPath: "a.log", Exit: "exit status 0"}, {PeakRSS: 50 << 20, LogPath: "b.log", Exit: "exit status 0"}},
	}}}
	var out bytes.Buffer
	printTable(&out, r)
	text := out.String()
	require.Contains(t, text, "2 notifier instances in amqp and sql modes")
	require.Regexp(t, `notifier instances +2`, text)
	require.Contains(t, text, "60 / 50 MB")
	require.Contains(t, text, "amqp, SMTP pipelining,chunking: notifier 2 log b.log")
}

func TestThousandsGroupsDigits(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 50000: "50,000", 1000000: "1,000,000", -8000: "-8,000"} {
		require.Equal(t, want, thousands(n))
	}
}
