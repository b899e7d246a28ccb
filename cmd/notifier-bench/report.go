package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The targets of the issue "Fan-out at scale".
const (
	targetAMQPRate   = 8000  // recipients/s, 50,000 recipients, amqp + PostgreSQL, 10 SMTP connections
	targetMemoryRate = 50000 // recipients/s, memory mode
	targetCodeP99    = 250 * time.Millisecond
	targetPeakRSS    = 150 << 20 // bytes, at 1,000,000 recipients
	targetRSSAt      = 1_000_000
)

// The targets of issue 12, with each kind of SMTP server.
const (
	targetSinkRatio   = 0.6 // of the ceiling of a sink of the same kind
	targetAMQPCodeP99 = 150 * time.Millisecond
)

// codeP99Target is the phone code's p99 target in mode: issue 12's in amqp
// mode, the fan-out issue's in the others.
func codeP99Target(mode string) time.Duration {
	if mode == "amqp" {
		return targetAMQPCodeP99
	}
	return targetCodeP99
}

// report is everything one bench run measured.
type report struct {
	Date         time.Time     `json:"date"`
	Recipients   int           `json:"recipients"`
	SMTPConns    int           `json:"smtp_conns"`
	SMTPConnsKey string        `json:"smtp_conns_setting"`
	SettingsNote string        `json:"settings_note,omitempty"`
	CodesEvery   time.Duration `json:"codes_every_ns"`
	// SinkKinds are the SMTP servers each mode ran against (-sink-extensions).
	SinkKinds []sinkKind `json:"sink_extensions"`
	// Instances is -instances: the notifiers of the amqp and sql modes.
	Instances  int     `json:"instances"`
	Machine    machine `json:"machine"`
	Go         string  `json:"go"`
	Notifier   string  `json:"notifier"`
	Binary     string  `json:"binary"`
	PostgreSQL string  `json:"postgresql,omitempty"`
	RabbitMQ   string  `json:"rabbitmq,omitempty"`
	// Modes has a run per mode and sink kind, in that order.
	Modes []modeResult `json:"modes"`
	// Sinks has a ceiling per sink kind.
	Sinks  []sinkCeiling  `json:"sink_ceilings,omitempty"`
	Broker *brokerCeiling `json:"broker_ceiling,omitempty"`
	// BenchPeakRSS is the bench's own peak memory (stubs and sink included).
	BenchPeakRSS int64 `json:"bench_peak_rss_bytes"`
}

// machine describes where the bench ran.
type machine struct {
	CPUs     int    `json:"cpus"`
	Model    string `json:"cpu_model"`
	MemTotal int64  `json:"mem_total_bytes"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal, _ = statusField(raw, "MemTotal")
	}
	return m
}

func goVersion() string { return runtime.Version() }

// sinkCeiling returns the ceiling of a sink of kind, if measured.
func (r *report) sinkCeiling(kind sinkKind) (sinkCeiling, bool) {
	for _, s := range r.Sinks {
		if s.Extensions == kind {
			return s, true
		}
	}
	return sinkCeiling{}, false
}

// setSinkRatios divides each run's rate by the ceiling of its sink kind.
func (r *report) setSinkRatios() {
	for i, m := range r.Modes {
		if s, ok := r.sinkCeiling(m.SinkExtensions); ok && s.Rate > 0 {
			r.Modes[i].SinkCeilingRatio = m.Rate / s.Rate
		}
	}
}

// name is a run's name in the output: "amqp, SMTP none", with ", traced"
// when the notifiers traced (-traces).
func (m modeResult) name() string {
	n := m.Mode + ", SMTP " + m.SinkExtensions.String()
	if m.Traced {
		n += ", traced"
	}
	return n
}

// problems counts what went wrong across the modes.
func (r *report) problems() int {
	n := 0
	for _, m := range r.Modes {
		n += len(m.Problems)
	}
	return n
}

// printTable writes the results as one table: a column per run (mode and
// SMTP server), a row per figure, the targets in the last column and each
// figure that misses one marked MISSED.
func printTable(w io.Writer, r *report) {
	smtp := fmt.Sprintf("%d SMTP connections (%s=%d)", r.SMTPConns, r.SMTPConnsKey, r.SMTPConns)
	if r.SMTPConnsKey == "" {
		smtp = fmt.Sprintf("SMTP connections: the notifier has no setting for them; -smtp-conns=%d applies to the sink ceiling only", r.SMTPConns)
	}
	fmt.Fprintf(w, "notifier-bench %s: %s recipients, %s, a phone code every %s\n",
		r.Date.Format("2006-01-02 15:04 MST"), thousands(r.Recipients), smtp, r.CodesEvery)
	kinds := make([]string, len(r.SinkKinds))
	for i, k := range r.SinkKinds {
		kinds[i] = k.String()
	}
	fmt.Fprintf(w, "SMTP servers (the sink offers): %s", strings.Join(kinds, "; "))
	if r.Instances > 1 {
		fmt.Fprintf(w, "; %d notifier instances in amqp and sql modes (one in memory mode)", r.Instances)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "machine: %d CPUs %s, %.1f GiB; %s; notifier %s", r.Machine.CPUs, r.Machine.Model,
		float64(r.Machine.MemTotal)/(1<<30), r.Go, r.Notifier)
	if r.PostgreSQL != "" {
		fmt.Fprintf(w, "; PostgreSQL %s", r.PostgreSQL)
	}
	if r.RabbitMQ != "" {
		fmt.Fprintf(w, "; RabbitMQ %s", r.RabbitMQ)
	}
	fmt.Fprintln(w)
	shown := map[string]bool{}
	for _, m := range r.Modes {
		if !shown[m.Mode] {
			shown[m.Mode] = true
			fmt.Fprintln(w, strings.TrimSpace(m.Mode+" delivery settings: "+strings.Join(m.Settings, " ")))
		}
	}
	if r.SettingsNote != "" {
		fmt.Fprintf(w, "(%s)\n", r.SettingsNote)
	}
	fmt.Fprintln(w)

	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	row := func(label string, cell func(m modeResult) string, target string) {
		fmt.Fprintf(tw, "%s\t", label)
		for _, m := range r.Modes {
			fmt.Fprintf(tw, "%s\t", cell(m))
		}
		fmt.Fprintf(tw, "%s\n", target)
	}
	row("", func(m modeResult) string {
		if m.Traced {
			return m.Mode + " (traced)"
		}
		return m.Mode
	}, "target")
	row("SMTP server offers", func(m modeResult) string { return m.SinkExtensions.String() }, "")
	if slices.ContainsFunc(r.Modes, func(m modeResult) bool { return m.Instances > 1 }) {
		row("notifier instances", func(m modeResult) string { return strconv.Itoa(m.Instances) }, "")
	}
	row("recipients/s, POST → completed", func(m modeResult) string {
		s := thousands(int(m.Rate))
		if t, ok := rateTarget(m.Mode); ok && m.Rate < t {
			s += " MISSED"
		}
		return s
	}, "≥ 50,000 memory, ≥ 8,000 amqp")
	if len(r.Sinks) > 0 {
		row("  ÷ the sink ceiling of that server", func(m modeResult) string {
			if m.SinkCeilingRatio == 0 {
				return "-"
			}
			s := fmt.Sprintf("%.2f", m.SinkCeilingRatio)
			if m.SinkCeilingRatio < targetSinkRatio {
				s += " MISSED"
			}
			return s
		}, fmt.Sprintf("≥ %.2f", targetSinkRatio))
	}
	row("  steady, 10% → 90% of the emails", func(m modeResult) string { return thousands(int(m.SteadyRate)) }, "")
	row("elapsed", func(m modeResult) string { return seconds(m.Elapsed) }, "")
	row("  audience walked (recipients = N)", func(m modeResult) string { return seconds(m.WalkDone) }, "")
	row("  first email at the sink", func(m modeResult) string { return seconds(m.FirstEmail) }, "")
	row("  last email at the sink", func(m modeResult) string { return seconds(m.LastEmail) }, "")
	row("sent (counters) / at the sink", func(m modeResult) string {
		return fmt.Sprintf("%s / %s", thousands(m.Posting.Counters.Sent), thousands(int(m.Sink.Messages)))
	}, "N / N")
	row("SMTP at the sink: connections / NOOP+RSET / out of turn", func(m modeResult) string {
		s := fmt.Sprintf("%d / %d / %d", m.Sink.Connections, m.Sink.Noops+m.Sink.Resets, m.Sink.OutOfTurn)
		if m.Sink.Noops+m.Sink.Resets > 0 {
			s += " MISSED"
		}
		return s
	}, "kept / 0 / 0")
	row("phone code p50 / p99 / max, ms", func(m modeResult) string {
		l := m.Codes.Latency
		s := fmt.Sprintf("%s / %s / %s", millis(l.P50), millis(l.P99), millis(l.Max))
		if l.Count > 0 && l.P99 > codeP99Target(m.Mode) {
			s += " MISSED"
		}
		return s
	}, fmt.Sprintf("p99 ≤ %d amqp, ≤ %d others", targetAMQPCodeP99.Milliseconds(), targetCodeP99.Milliseconds()))
	row("status read during it p50 / p99 / max, ms", func(m modeResult) string {
		l := m.StatusReads
		return fmt.Sprintf("%s / %s / %s", millis(l.P50), millis(l.P99), millis(l.Max))
	}, "GET /api/v1/postings/{id}")
	row("phone codes arrived / posted", func(m modeResult) string {
		return fmt.Sprintf("%d / %d", m.Codes.Arrived, m.Codes.Posted)
	}, "")
	if slices.ContainsFunc(r.Modes, func(m modeResult) bool { return m.Traced }) {
		row("traces: spans exported / smtp.send spans / requests", func(m modeResult) string {
			if m.Traces == nil {
				return "off"
			}
			return fmt.Sprintf("%s / %s / %d", thousands(m.Traces.Spans), thousands(m.Traces.Sends), m.Traces.Requests)
		}, "sends = N")
	}
	row("peak RSS of the notifier (VmHWM)", func(m modeResult) string {
		var each []string
		for _, in := range m.PerInstance {
			each = append(each, fmt.Sprintf("%.0f", float64(in.PeakRSS)/(1<<20)))
		}
		if len(each) == 0 {
			each = append(each, fmt.Sprintf("%.0f", float64(m.PeakRSS)/(1<<20)))
		}
		s := strings.Join(each, " / ") + " MB"
		if m.Recipients >= targetRSSAt && m.PeakRSS > targetPeakRSS {
			s += " MISSED"
		}
		return s
	}, "≤ 150 MB at 1,000,000")
	row("PostgreSQL rows written per recipient", func(m modeResult) string {
		if len(m.RowWrites) == 0 {
			return "-"
		}
		var sum int64
		for _, n := range m.RowWrites {
			sum += n
		}
		return fmt.Sprintf("%.2f", float64(sum)/float64(m.Recipients))
	}, "")
	row("CPU cores: notifier / PostgreSQL / RabbitMQ", func(m modeResult) string {
		return fmt.Sprintf("%.2f / %.2f / %.2f", m.CPU.Notifier, m.CPU.Postgres, m.CPU.RabbitMQ)
	}, "")
	row("CPU cores: bench (stubs, sink) / others", func(m modeResult) string {
		return fmt.Sprintf("%.2f / %.2f", m.CPU.Bench, m.CPU.Others)
	}, "")
	row("machine busy; load average at start", func(m modeResult) string {
		return fmt.Sprintf("%.0f%%; %.2f", 100*m.CPU.MachineBusy, m.Load)
	}, fmt.Sprintf("%d CPUs", r.Machine.CPUs))
	if len(r.Sinks) > 0 {
		row(fmt.Sprintf("sink ceiling of that server, /s (%d SMTP conns)", r.SMTPConns), func(m modeResult) string {
			s, ok := r.sinkCeiling(m.SinkExtensions)
			if !ok {
				return "-"
			}
			return fmt.Sprintf("%s (%.1f cores)", thousands(int(s.Rate)), s.Cores)
		}, "")
	}
	if b := r.Broker; b != nil {
		row(fmt.Sprintf("÷ broker ceiling %s/s in+out (pub %s/s, cons %s/s)", thousands(int(b.Rate)), thousands(int(b.PublishRate)), thousands(int(b.ConsumeRate))),
			func(m modeResult) string {
				if m.Mode != "amqp" {
					return "-"
				}
				return fmt.Sprintf("%.2f", m.Rate/b.Rate)
			}, "")
	}
	_ = tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}

	for _, m := range r.Modes {
		for _, p := range m.Problems {
			fmt.Fprintf(w, "!! %s: %s\n", m.name(), p)
		}
	}
	for _, m := range r.Modes {
		if len(m.PerInstance) > 1 {
			for i, in := range m.PerInstance {
				fmt.Fprintf(w, "%s: notifier %d log %s (%s; %.2f cores)\n", m.name(), i+1, in.LogPath, in.Exit, in.Cores)
			}
		} else {
			fmt.Fprintf(w, "%s: notifier log %s (%s)\n", m.name(), m.LogPath, m.Exit)
		}
		if m.Profile != "" {
			fmt.Fprintf(w, "%s: CPU profile %s (go tool pprof -top %s <it>)\n", m.name(), m.Profile, r.Binary)
		}
	}
	for _, m := range r.Modes {
		if len(m.RowWrites) > 0 {
			// Watermill's tables (outbox, SQL transport) in one figure;
			// the migrations' own table left out.
			grouped := map[string]int64{}
			for table, n := range m.RowWrites {
				switch {
				case table == "goose_db_version":
				case strings.HasPrefix(table, "wm_"):
					grouped["wm_* (watermill)"] += n
				default:
					grouped[table] += n
				}
			}
			var parts []string
			for _, table := range slices.Sorted(maps.Keys(grouped)) {
				parts = append(parts, fmt.Sprintf("%s %.2f", table, float64(grouped[table])/float64(m.Recipients)))
			}
			fmt.Fprintf(w, "%s: PostgreSQL rows written per recipient: %s\n", m.name(), strings.Join(parts, ", "))
		}
	}
	fmt.Fprintf(w, "the bench's own peak RSS: %.0f MB\n", float64(r.BenchPeakRSS)/(1<<20))
}

// rateTarget returns the rate target of mode.
func rateTarget(mode string) (float64, bool) {
	switch mode {
	case "memory":
		return targetMemoryRate, true
	case "amqp":
		return targetAMQPRate, true
	}
	return 0, false
}

func printJSON(w io.Writer, r *report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// thousands formats n with commas: 50000 → "50,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func seconds(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

// splitHostPort splits a loopback host:port.
func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	return host, port, err
}
