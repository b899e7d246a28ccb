// Command notifier-bench measures how fast a built notifier fans a mailing
// out, how long a phone code waits meanwhile, and how much memory it takes,
// against stubs it serves itself on loopback (a user directory of N
// synthetic users, the catalogue, a discard SMTP sink, an SMS gateway) and,
// for the amqp and sql modes, the real PostgreSQL and RabbitMQ. Each mode
// runs once against each kind of SMTP server the sink plays (no extension;
// PIPELINING and CHUNKING), with one notifier or several sharing the
// broker and the database. It also measures what bounds the notifier from
// outside: each sink kind's own ceiling with the notifier's SMTP client
// (go-mail + smtptx) and the broker's with amqp091. It prints one table.
//
//	go build -o bin/notifier ./cmd/notifier
//	go run ./cmd/notifier-bench -binary bin/notifier [-recipients 50000] [-modes memory,amqp] \
//	    [-sink-extensions none -sink-extensions pipelining,chunking] [-instances 1]
//
// `make bench` does both; see docs/BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	binary      string
	recipients  int
	modes       []string
	smtpConns   int
	codesEvery  time.Duration
	amqpURL     string
	databaseURL string
	json        bool
	logDir      string
	timeout     time.Duration
	ceilings    bool
	cpuProfile  time.Duration
	sinkKinds   []sinkKind
	instances   int
	traces      bool
}

// defaultSinkKinds are the SMTP servers a run measures unless told: one
// that offers no extension (the normal go-mail exchange, Mailpit) and one
// that offers PIPELINING and CHUNKING (Postfix by default).
var defaultSinkKinds = []sinkKind{sinkNone, sinkChunking}

// sinkKindsFlag is -sink-extensions: each use names a sink kind, or several
// separated by ";"; the first use replaces the default.
type sinkKindsFlag struct {
	kinds *[]sinkKind
	set   bool
}

func (f *sinkKindsFlag) String() string {
	if f.kinds == nil {
		return ""
	}
	names := make([]string, len(*f.kinds))
	for i, k := range *f.kinds {
		names[i] = k.String()
	}
	return strings.Join(names, ";")
}

func (f *sinkKindsFlag) Set(v string) error {
	if !f.set {
		*f.kinds, f.set = nil, true
	}
	for part := range strings.SplitSeq(v, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, err := parseSinkKind(part)
		if err != nil {
			return err
		}
		if !slices.Contains(*f.kinds, k) {
			*f.kinds = append(*f.kinds, k)
		}
	}
	return nil
}

// benchGCPercent is the bench's own garbage collector target when GOGC is
// not set: its stubs and sink share the two CPUs with the notifier, and
// collect less often with it (its peak RSS stays under 40 MB).
const benchGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(benchGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "notifier-bench:", err)
		return 2
	}
	report, err := bench(ctx, opts, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "notifier-bench:", err)
		return 1
	}
	printTable(stdout, report)
	if opts.json {
		if err := printJSON(stdout, report); err != nil {
			fmt.Fprintln(stderr, "notifier-bench:", err)
			return 1
		}
	}
	if report.problems() > 0 {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("notifier-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{sinkKinds: slices.Clone(defaultSinkKinds)}
	var modes string
	fs.StringVar(&o.binary, "binary", "bin/notifier", "the notifier binary to run (build it first: go build -o bin/notifier ./cmd/notifier)")
	fs.IntVar(&o.recipients, "recipients", 50000, "users in the mailing")
	fs.StringVar(&modes, "modes", "memory,amqp", "comma-separated transports to run: memory, amqp, sql")
	fs.IntVar(&o.smtpConns, "smtp-conns", 10, "SMTP connections: the bulk lane's (delivery.connections.bulk), and the sink ceiling's clients (go-mail + smtptx, as the notifier)")
	fs.DurationVar(&o.codesEvery, "codes-every", 100*time.Millisecond, "how often a phone code is posted while the mailing runs")
	fs.StringVar(&o.amqpURL, "amqp-url", envOr("NOTIFIER_TEST_AMQP_URL", defaultAMQPURL), "RabbitMQ")
	fs.StringVar(&o.databaseURL, "database-url", envOr("NOTIFIER_TEST_DATABASE_URL", defaultDatabaseURL), "PostgreSQL (a schema of the run's own is created in it and dropped)")
	fs.BoolVar(&o.json, "json", false, "also print the results as JSON")
	fs.StringVar(&o.logDir, "logs", "bin/bench-logs", "where the notifier's log of each mode goes")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up on a mailing that has not completed after this long")
	fs.BoolVar(&o.ceilings, "ceilings", true, "measure each sink kind's and the broker's ceilings too")
	fs.DurationVar(&o.cpuProfile, "cpuprofile", 0, "take a CPU profile of the notifier (the first instance) for this long from the mailing's start (through NOTIFIER_PPROF_ADDR), saved next to its log; 0: none")
	fs.Var(&sinkKindsFlag{kinds: &o.sinkKinds}, "sink-extensions",
		"the SMTP extensions the sink offers: none, pipelining or pipelining,chunking; each mode runs once against each kind named, "+
			"one a use of the flag (repeat it) or several separated by ';'")
	fs.BoolVar(&o.traces, "traces", false, "turn the notifiers' tracing on (OTEL_EXPORTER_OTLP_ENDPOINT at an OTLP/HTTP sink the bench serves, which decodes and counts the spans; every trace sampled); off, no OTEL_* variable of the shell reaches them")
	fs.IntVar(&o.instances, "instances", 1, "notifier processes in amqp and sql modes, sharing RabbitMQ and PostgreSQL, each on its own HTTP port; the mailing and the phone codes are posted to the first (memory mode runs one)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for m := range strings.SplitSeq(modes, ",") {
		m = strings.TrimSpace(m)
		switch m {
		case "":
		case "memory", "amqp", "sql":
			if !slices.Contains(o.modes, m) {
				o.modes = append(o.modes, m)
			}
		default:
			return o, fmt.Errorf("-modes: unknown mode %q (memory, amqp, sql)", m)
		}
	}
	switch {
	case len(o.modes) == 0:
		return o, errors.New("-modes: name at least one of memory, amqp, sql")
	case o.recipients < 1:
		return o, errors.New("-recipients: at least 1")
	case o.smtpConns < 1:
		return o, errors.New("-smtp-conns: at least 1")
	case o.codesEvery <= 0:
		return o, errors.New("-codes-every: must be positive")
	case o.cpuProfile < 0:
		return o, errors.New("-cpuprofile: must not be negative")
	case len(o.sinkKinds) == 0:
		return o, errors.New("-sink-extensions: name at least one of none, pipelining, pipelining,chunking")
	case o.instances < 1:
		return o, errors.New("-instances: at least 1")
	}
	return o, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// bench runs every mode, then the ceilings, and returns what it measured.
func bench(ctx context.Context, o options, progress io.Writer) (*report, error) {
	if _, err := os.Stat(o.binary); err != nil {
		return nil, fmt.Errorf("-binary: %w (build it first: go build -o bin/notifier ./cmd/notifier)", err)
	}
	if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		return nil, err
	}
	r := &report{
		Date: time.Now().UTC(), Recipients: o.recipients, SMTPConns: o.smtpConns, CodesEvery: o.codesEvery,
		SinkKinds: o.sinkKinds, Instances: o.instances,
		Machine: describeMachine(), Go: goVersion(), Notifier: notifierVersion(o.binary), Binary: o.binary,
	}
	needsDB := slices.ContainsFunc(o.modes, func(m string) bool { return m != "memory" })
	if needsDB {
		r.PostgreSQL = postgresVersion(ctx, o.databaseURL)
	}
	if slices.Contains(o.modes, "amqp") {
		r.RabbitMQ = rabbitmqVersion(o.amqpURL)
	}

	defaults, err := defaultConfigYAML()
	if err != nil {
		return nil, err
	}
	key, err := smtpConnsKey(defaults)
	if err != nil {
		return nil, err
	}
	configPath := ""
	if key != nil {
		overlay, err := overlayYAML(defaults, key, o.smtpConns)
		if err != nil {
			return nil, err
		}
		configPath = filepath.Join(o.logDir, r.Date.Format("20060102-150405")+"-config.yaml")
		if err := os.WriteFile(configPath, overlay, 0o644); err != nil {
			return nil, err
		}
		if ok, why := binaryAccepts(o.binary, configPath); !ok {
			fmt.Fprintf(progress, "notifier-bench: %s refuses %s=%d, running without it:\n%s\n", o.binary, keyName(key), o.smtpConns, why)
			key, configPath = nil, ""
			r.SettingsNote = "the binary is older than this tree: the delivery settings shown are this tree's, not necessarily the binary's"
		}
	}
	r.SMTPConnsKey = keyName(key)

	for _, mode := range o.modes {
		if mode == "memory" && o.instances > 1 {
			fmt.Fprintf(progress, "notifier-bench: memory: one instance, not %d (memory mode keeps its state in the process: instances cannot share it)\n", o.instances)
		}
		for _, kind := range o.sinkKinds {
			run := mode + ", SMTP " + kind.String()
			fmt.Fprintf(progress, "notifier-bench: %s: %d recipients…\n", run, o.recipients)
			res, err := runMode(ctx, o, mode, kind, configPath, progress)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", run, err)
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: interrupted; the notifier is stopped and the run's schema and queues are deleted", run)
			}
			r.Modes = append(r.Modes, res)
			fmt.Fprintf(progress, "notifier-bench: %s: %.0f recipients/s (log: %s)\n", run, res.Rate, res.LogPath)
		}
	}

	if o.ceilings {
		for _, kind := range o.sinkKinds {
			fmt.Fprintf(progress, "notifier-bench: sink ceiling, SMTP %s: %d messages over %d SMTP connections…\n", kind, o.recipients, o.smtpConns)
			sc, err := measureSinkCeiling(ctx, o.recipients, o.smtpConns, kind)
			if err != nil {
				return nil, err
			}
			r.Sinks = append(r.Sinks, sc)
		}
		r.setSinkRatios()
		if slices.Contains(o.modes, "amqp") {
			fmt.Fprintf(progress, "notifier-bench: broker ceiling: %d persistent messages…\n", o.recipients)
			bc, err := measureBrokerCeiling(ctx, o.amqpURL, uniqueName("nb_ceiling"), o.recipients, 8, 50)
			if err != nil {
				return nil, err
			}
			r.Broker = &bc
		}
	}
	r.BenchPeakRSS, _ = peakRSS(os.Getpid())
	return r, nil
}

// notifierVersion asks the binary for its version.
func notifierVersion(binary string) string {
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "notifier"))
}

// logPath names the log file of a notifier: label is the mode, the sink
// kind and, with several instances, the instance's number.
func logPath(dir, label string, at time.Time) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%s.log", at.Format("20060102-150405"), label))
}
