package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseStatReadsCPUTimeWhateverTheCommandName(t *testing.T) {
	t.Parallel()
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks.
	raw := []byte("4242 (we(ird) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0\n")
	comm, cpu, err := parseStat(raw)
	require.NoError(t, err)
	require.Equal(t, "we(ird) name", comm)
	require.Equal(t, 3*time.Second, cpu)

	_, _, err = parseStat([]byte("4242 (short) S 1"))
	require.Error(t, err)
}

func TestStatusFieldReadsKilobytes(t *testing.T) {
	t.Parallel()
	status := []byte("Name:\tnotifier\nVmPeak:\t  900000 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\n")
	hwm, err := statusField(status, "VmHWM")
	require.NoError(t, err)
	require.Equal(t, int64(80<<20), hwm)
	_, err = statusField(status, "VmSwap")
	require.Error(t, err)
}

func TestPeakRSSOfThisProcess(t *testing.T) {
	t.Parallel()
	rss, err := peakRSS(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, rss)
}

func TestCPUBetweenSplitsTheMachineBetweenProcesses(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Two notifier instances.
	a := cpuSample{at: at, notifiers: []time.Duration{time.Second, 3 * time.Second},
		postgres: map[int]time.Duration{10: time.Second, 11: time.Second}, rabbitmq: map[int]time.Duration{20: 0}}
	// Two seconds later, on two CPUs (400 ticks), 350 ticks busy: 1.75 cores.
	b := cpuSample{at: at.Add(2 * time.Second), notifiers: []time.Duration{1600 * time.Millisecond, 3400 * time.Millisecond},
		bench: 500 * time.Millisecond,
		// 11 exited (left out), 12 started (its whole time counts).
		postgres: map[int]time.Duration{10: 1500 * time.Millisecond, 12: 500 * time.Millisecond},
		rabbitmq: map[int]time.Duration{20: 500 * time.Millisecond},
		machine:  machineCPU{busy: 350, total: 400}}

	u := cpuBetween(a, b)
	require.InDelta(t, 0.5, u.Notifier, 1e-9, "the instances summed")
	require.InDeltaSlice(t, []float64{0.3, 0.2}, u.notifierEach, 1e-9)
	require.InDelta(t, 0.5, u.Postgres, 1e-9)
	require.InDelta(t, 0.25, u.RabbitMQ, 1e-9)
	require.InDelta(t, 0.25, u.Bench, 1e-9)
	require.InDelta(t, 0.875, u.MachineBusy, 1e-9)
	require.InDelta(t, 0.25, u.Others, 1e-9, "1.75 busy cores less 1.5 used by the processes watched")
}

func TestParseMachineCPULeavesIdleAndIOWaitOut(t *testing.T) {
	t.Parallel()
	m, err := parseMachineCPU([]byte("cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3 4\n"))
	require.NoError(t, err)
	require.Equal(t, machineCPU{busy: 160, total: 1000}, m)
}
