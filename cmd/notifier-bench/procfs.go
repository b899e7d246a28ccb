package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc (100 on every
// Linux the bench runs on).
const clockTicks = 100

// peakRSS returns VmHWM, the peak resident set size, of process pid in
// bytes, from /proc/<pid>/status.
func peakRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return statusField(raw, "VmHWM")
}

// statusField reads a "Name:   123 kB" line of a /proc status file, in bytes.
func statusField(status []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != name {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected %q", name, value)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%s: not in status", name)
}

// procCPU returns the command name and the CPU time (user + system) used
// so far by process pid, from /proc/<pid>/stat.
func procCPU(pid int) (comm string, cpu time.Duration, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	return parseStat(raw)
}

// parseStat reads the command name and utime + stime of a /proc/<pid>/stat
// line: "pid (comm) state ppid … utime stime …" where comm may hold spaces
// and parentheses, and utime and stime are fields 14 and 15.
func parseStat(raw []byte) (string, time.Duration, error) {
	open, end := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
	if open < 0 || end < open {
		return "", 0, errors.New("stat: no command name")
	}
	comm := string(raw[open+1 : end])
	fields := strings.Fields(string(raw[end+1:])) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return "", 0, errors.New("stat: too few fields")
	}
	var ticks int64
	for _, f := range fields[11:13] { // fields 14 and 15
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return "", 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return comm, time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuSample is the CPU time used so far by the processes the bench watches
// and by the whole machine.
type cpuSample struct {
	at        time.Time
	notifiers []time.Duration // in the order of their pids
	bench     time.Duration
	postgres  map[int]time.Duration // per pid: backends come and go
	rabbitmq  map[int]time.Duration
	machine   machineCPU
}

// machineCPU is the first line of /proc/stat, in ticks.
type machineCPU struct{ busy, total int64 }

// sampleCPU reads the CPU used by the notifiers (their pids), this
// process, every PostgreSQL process and the RabbitMQ VM (beam.smp).
func sampleCPU(notifierPIDs []int) cpuSample {
	s := cpuSample{at: time.Now(), notifiers: make([]time.Duration, len(notifierPIDs)),
		postgres: map[int]time.Duration{}, rabbitmq: map[int]time.Duration{}}
	for i, pid := range notifierPIDs {
		if _, cpu, err := procCPU(pid); err == nil {
			s.notifiers[i] = cpu
		}
	}
	if _, cpu, err := procCPU(os.Getpid()); err == nil {
		s.bench = cpu
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, cpu, err := procCPU(pid)
		if err != nil {
			continue
		}
		switch comm {
		case "postgres", "postmaster":
			s.postgres[pid] = cpu
		case "beam.smp":
			if isBroker(pid) {
				s.rabbitmq[pid] = cpu
			}
		}
	}
	if raw, err := os.ReadFile("/proc/stat"); err == nil {
		s.machine, _ = parseMachineCPU(raw)
	}
	return s
}

// isBroker tells the RabbitMQ server's Erlang VM (started with
// "-s rabbit boot") from those of rabbitmqctl and other CLI tools.
func isBroker(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmdline, []byte("\x00rabbit\x00boot"))
}

// loadAverage returns the first field of /proc/loadavg (the run queue over
// the last minute), or -1.
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// parseMachineCPU reads the "cpu" line of /proc/stat: busy is everything
// but idle and iowait.
func parseMachineCPU(raw []byte) (machineCPU, error) {
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return machineCPU{}, errors.New("/proc/stat: no cpu line")
	}
	var m machineCPU
	for i, f := range fields[1:] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return machineCPU{}, err
		}
		if i >= 8 { // guest times are already in user and nice
			break
		}
		m.total += n
		if i != 3 && i != 4 { // idle, iowait
			m.busy += n
		}
	}
	return m, nil
}

// cpuUse is the CPU used between two samples, in cores (CPU seconds per
// second of wall time).
type cpuUse struct {
	// Notifier is every notifier instance's, summed; notifierEach is each
	// one's.
	Notifier     float64 `json:"notifier_cores"`
	notifierEach []float64
	Postgres     float64 `json:"postgres_cores"`
	RabbitMQ     float64 `json:"rabbitmq_cores"`
	Bench        float64 `json:"bench_cores"`
	// Others is what the rest of the machine used: the busy cores less
	// the processes above.
	Others      float64 `json:"others_cores"`
	MachineBusy float64 `json:"machine_busy_fraction"`
}

// cpuBetween returns the CPU used from a to b. A process that exited in
// between is left out; one that started counts from zero.
func cpuBetween(a, b cpuSample) cpuUse {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return cpuUse{}
	}
	sum := func(before, after map[int]time.Duration) float64 {
		var d time.Duration
		for pid, cpu := range after {
			d += cpu - before[pid]
		}
		return d.Seconds() / wall
	}
	u := cpuUse{
		Bench:    (b.bench - a.bench).Seconds() / wall,
		Postgres: sum(a.postgres, b.postgres),
		RabbitMQ: sum(a.rabbitmq, b.rabbitmq),
	}
	for i := range min(len(a.notifiers), len(b.notifiers)) {
		cores := (b.notifiers[i] - a.notifiers[i]).Seconds() / wall
		u.notifierEach = append(u.notifierEach, cores)
		u.Notifier += cores
	}
	if total := b.machine.total - a.machine.total; total > 0 {
		u.MachineBusy = float64(b.machine.busy-a.machine.busy) / float64(total)
		busyCores := float64(b.machine.busy-a.machine.busy) / clockTicks / wall
		u.Others = max(0, busyCores-u.Notifier-u.Postgres-u.RabbitMQ-u.Bench)
	}
	return u
}
