package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/notifier/notifier/platform/demodirectory"
)

// mailingMovies is the mailing's one small inline movie.
var mailingMovies = []any{map[string]any{"title": "Чебурашка", "year": 2023, "description": "Добрая семейная комедия."}}

// benchToken is the service token the notifier under test accepts.
const benchToken = "bench-service-token"

// modeResult is what one mode measured against one kind of SMTP server.
type modeResult struct {
	Mode string `json:"mode"`
	// SinkExtensions is what the SMTP sink offered.
	SinkExtensions sinkKind `json:"sink_extensions"`
	// Instances is how many notifiers ran (one in memory mode, whatever
	// -instances says).
	Instances  int `json:"instances"`
	Recipients int `json:"recipients"`
	// Settings is the notifier's effective delivery configuration.
	Settings []string `json:"delivery_settings"`

	Elapsed time.Duration `json:"elapsed_ns"`
	Rate    float64       `json:"recipients_per_second"`
	// SteadyRate is the rate from 10% to 90% of the emails at the sink.
	SteadyRate float64 `json:"steady_per_second"`
	// Stages, from the mailing's POST: when counters.recipients reached N,
	// and when the sink accepted the first and the last email.
	WalkDone   time.Duration `json:"audience_walked_ns"`
	FirstEmail time.Duration `json:"first_email_ns"`
	LastEmail  time.Duration `json:"last_email_ns"`

	Posting posting       `json:"posting"`
	Sink    sinkCounts    `json:"sink"`
	Gateway gatewayCounts `json:"sms_gateway"`
	Codes   codeResult    `json:"phone_codes"`
	// StatusReads is how long GET /api/v1/postings/{id} took while the
	// mailing ran (polled every 25 ms).
	StatusReads latencySummary `json:"status_reads"`
	// PeakRSS is the highest of the instances' peak RSS.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// CPU counts the notifiers' CPU summed.
	CPU cpuUse `json:"cpu"`
	// SinkCeilingRatio is Rate over the ceiling of a sink of the same kind
	// (zero when the ceilings were not measured).
	SinkCeilingRatio float64 `json:"sink_ceiling_ratio,omitempty"`
	// Load is the machine's one-minute load average when the mailing
	// started: above zero, something else was running.
	Load float64 `json:"load_average_at_start"`
	// RowWrites is the rows each table of the run's schema had inserted,
	// updated or deleted by the notifier's exit.
	RowWrites map[string]int64 `json:"postgres_row_writes,omitempty"`
	// Exit and LogPath are the first instance's; PerInstance has each
	// one's.
	Exit        string           `json:"exit"`
	LogPath     string           `json:"log"`
	PerInstance []instanceResult `json:"per_instance"`
	// Profile is the first notifier's CPU profile file (-cpuprofile), or
	// why there is none.
	Profile string `json:"cpu_profile,omitempty"`

	// Traced says the notifiers traced every request and message
	// (-traces); Traces is what their collector received.
	Traced bool         `json:"traced"`
	Traces *traceCounts `json:"traces,omitempty"`

	Problems []string `json:"problems"`
}

// instanceResult is one notifier process of a run.
type instanceResult struct {
	PeakRSS int64   `json:"peak_rss_bytes"`
	Cores   float64 `json:"cpu_cores"`
	Exit    string  `json:"exit"`
	LogPath string  `json:"log"`
}

// codeResult is what the phone codes posted during the mailing showed.
type codeResult struct {
	Posted  int            `json:"posted"`
	Arrived int            `json:"arrived"`
	Errors  int            `json:"post_errors"`
	Latency latencySummary `json:"latency"`
}

// stubs are the services the notifier talks to, served by the bench.
type stubs struct {
	servers []*http.Server
	auth    string
	fastapi string
	sms     string
	sink    *discardSink
	gateway *smsGateway
	// traces is the trace collector, when the run traces (-traces).
	traces    *otlpSink
	tracesURL string
}

// startStubs starts the stubs for n users, with a sink offering the
// extensions of kind, and a trace collector when traces is set.
func startStubs(n int, kind sinkKind, traces bool) (*stubs, error) {
	s := &stubs{gateway: newSMSGateway(time.Now)}
	data, err := demodirectory.LoadDefault()
	if err != nil {
		return nil, err
	}
	serve := func(h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		go func() { _ = srv.Serve(ln) }()
		return "http://" + ln.Addr().String(), nil
	}
	if s.auth, err = serve(&streamingDirectory{n: n}); err != nil {
		return nil, errors.Join(err, s.close())
	}
	if s.fastapi, err = serve(demodirectory.NewFastAPI(data)); err != nil {
		return nil, errors.Join(err, s.close())
	}
	if s.sms, err = serve(s.gateway); err != nil {
		return nil, errors.Join(err, s.close())
	}
	if s.sink, err = startDiscardSink(n, kind); err != nil {
		return nil, errors.Join(err, s.close())
	}
	if traces {
		s.traces = &otlpSink{}
		if s.tracesURL, err = serve(s.traces); err != nil {
			return nil, errors.Join(err, s.close())
		}
	}
	return s, nil
}

func (s *stubs) close() error {
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Close())
	}
	if s.sink != nil {
		s.sink.close()
	}
	return errors.Join(errs...)
}

// runMode runs one mailing of o.recipients in mode against a sink offering
// the extensions of kind, on o.instances fresh notifiers sharing the
// broker and the database (one in memory mode). configPath, when set, is
// the configuration file that sets the SMTP connections.
func runMode(ctx context.Context, o options, mode string, kind sinkKind, configPath string, progress io.Writer) (res modeResult, err error) {
	res = modeResult{Mode: mode, SinkExtensions: kind, Instances: o.instances, Recipients: o.recipients}
	if mode == "memory" {
		res.Instances = 1
	}
	schema := "" // the run's PostgreSQL schema, outside memory mode
	st, err := startStubs(o.recipients, kind, o.traces)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, st.close()) }()

	started := time.Now()
	label := mode + "-" + kind.label()
	env := map[string]string{
		"NOTIFIER_TRANSPORT":  mode,
		"NOTIFIER_UPSTREAMS":  "auth=" + st.auth + ",fastapi=" + st.fastapi,
		"NOTIFIER_SMTP_ADDR":  st.sink.addr(),
		"NOTIFIER_SMTP_TLS":   "none",
		"NOTIFIER_SMS_URL":    st.sms,
		"NOTIFIER_API_TOKENS": "service:" + benchToken,
		"NOTIFIER_LOG_LEVEL":  "warn",
		// Production modes need both; the links go nowhere here.
		"NOTIFIER_PUBLIC_URL":      "http://localhost:8080",
		"NOTIFIER_UNSUBSCRIBE_KEY": "notifier-bench-unsubscribe-key-32-bytes",
	}
	if configPath != "" {
		env["NOTIFIER_CONFIG"] = configPath
	}
	if o.traces {
		res.Traced = true
		env["OTEL_EXPORTER_OTLP_ENDPOINT"] = st.tracesURL
		env["OTEL_TRACES_SAMPLER"] = "always_on"
	}
	if mode != "memory" {
		dbURL, name, drop, err := createSchema(ctx, o.databaseURL)
		if err != nil {
			return res, err
		}
		defer func() {
			if dropErr := drop(); dropErr != nil {
				err = errors.Join(err, dropErr)
			}
		}()
		schema = name
		env["NOTIFIER_DATABASE_URL"] = dbURL
		env["NOTIFIER_AUTO_MIGRATE"] = "true"
	}
	if mode == "amqp" {
		prefix := uniqueName("nb")
		env["NOTIFIER_AMQP_URL"] = o.amqpURL
		env["NOTIFIER_AMQP_PREFIX"] = prefix
		env["NOTIFIER_EXCHANGES"] = prefix + ".events"
		defer func() {
			if cleanErr := deleteAMQPNames(o.amqpURL, prefix); cleanErr != nil {
				err = errors.Join(err, fmt.Errorf("delete the run's queues and exchanges %s*: %w", prefix, cleanErr))
			}
		}()
	}
	if res.Settings, err = deliverySettings(env); err != nil {
		return res, fmt.Errorf("the notifier's configuration: %w", err)
	}
	pprofAddr := ""
	if o.cpuProfile > 0 {
		if pprofAddr, err = freeAddr(); err != nil {
			return res, err
		}
	}

	// The instances start one after the other: the first applies the
	// migrations, which the others then find done.
	procs := make([]*notifierProcess, 0, res.Instances)
	stopped := false
	defer func() {
		if !stopped {
			stopAll(procs)
		}
	}()
	for i := range res.Instances {
		instanceEnv, path := env, logPath(o.logDir, label, started)
		if res.Instances > 1 {
			path = logPath(o.logDir, fmt.Sprintf("%s-%d", label, i+1), started)
		}
		if i == 0 && pprofAddr != "" {
			instanceEnv = maps.Clone(env)
			instanceEnv["NOTIFIER_PPROF_ADDR"] = pprofAddr
		}
		proc, err := startNotifier(ctx, o.binary, instanceEnv, benchToken, path)
		if err != nil {
			if res.Instances > 1 {
				err = fmt.Errorf("instance %d: %w", i+1, err)
			}
			return res, err
		}
		procs = append(procs, proc)
	}
	proc := procs[0] // the mailing, the phone codes and the polling go to it
	res.LogPath = proc.logPath
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.pid()
	}

	runID := strconv.FormatInt(started.UnixNano(), 36)
	res.Load = loadAverage()
	before := sampleCPU(pids)
	t0 := time.Now()
	p, err := proc.createPosting(ctx, "bench-mailing-"+runID, map[string]any{
		"receivers":        "http://auth/api/v1/users/?is_active=True",
		"template":         "email/new_movies.md",
		"delivery_type":    []string{"email"},
		"template_context": map[string]any{"movies": mailingMovies},
	})
	if err != nil {
		return res, fmt.Errorf("create the mailing: %w", err)
	}
	profileDone := make(chan struct{})
	go func() {
		defer close(profileDone)
		if pprofAddr != "" {
			path := strings.TrimSuffix(res.LogPath, ".log") + ".cpu.pprof"
			if err := fetchCPUProfile(ctx, pprofAddr, o.cpuProfile, path); err != nil {
				res.Profile = "none: " + err.Error()
				return
			}
			res.Profile = path
		}
	}()
	pr := &prober{proc: proc, gateway: st.gateway, users: o.recipients, runID: runID, sent: map[string]time.Time{}}
	proberCtx, stopProber := context.WithCancel(ctx)
	proberDone := make(chan struct{})
	go func() { pr.run(proberCtx, o.codesEvery); close(proberDone) }()

	w := &mailingWatch{procs: procs, id: p.ID, n: o.recipients, t0: t0, sent: st.sink.messages.Load, progress: progress,
		run: mode + ", SMTP " + kind.String()}
	final, waitErr := w.wait(ctx, o.timeout)
	res.Elapsed = time.Since(t0)
	after := sampleCPU(pids)
	stopProber()
	<-proberDone
	codesWait := 30 * time.Second
	if ctx.Err() != nil {
		codesWait = 0 // interrupted: clean up at once
	}
	res.Codes = pr.collect(codesWait)

	res.Posting, res.WalkDone, res.SteadyRate = final, w.walkDone, w.steadyRate()
	res.StatusReads = summarize(w.reads)
	res.Rate = float64(o.recipients) / res.Elapsed.Seconds()
	res.CPU = cpuBetween(before, after)
	if first, last, ok := st.sink.firstAndLast(); ok {
		res.FirstEmail, res.LastEmail = first.Sub(t0), last.Sub(t0)
	}
	<-profileDone // the notifier must still run to answer it
	res.PerInstance = make([]instanceResult, len(procs))
	for i, p := range procs {
		res.PerInstance[i] = instanceResult{LogPath: p.logPath}
		if i < len(res.CPU.notifierEach) {
			res.PerInstance[i].Cores = res.CPU.notifierEach[i]
		}
		rss, err := peakRSS(p.pid())
		if err != nil {
			res.Problems = append(res.Problems, "peak RSS unknown: "+err.Error())
			continue
		}
		res.PerInstance[i].PeakRSS = rss
		res.PeakRSS = max(res.PeakRSS, rss)
	}
	for i, exit := range stopAll(procs) {
		res.PerInstance[i].Exit = exit
	}
	res.Exit, stopped = res.PerInstance[0].Exit, true
	if schema != "" {
		time.Sleep(time.Second) // let the statistics catch up
		res.RowWrites = schemaWrites(ctx, o.databaseURL, schema)
	}
	res.Sink, res.Gateway = st.sink.counts(), st.gateway.counts()
	if st.traces != nil {
		counts := st.traces.counts() // the notifiers flushed their spans as they stopped
		res.Traces = &counts
	}
	res.Problems = append(res.Problems, checkMode(res, waitErr)...)
	return res, nil
}

// stopAll stops the notifiers at once and returns how each ended.
func stopAll(procs []*notifierProcess) []string {
	exits := make([]string, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { exits[i] = p.stop() })
	}
	wg.Wait()
	return exits
}

// mailingWatch follows a mailing until it is final.
type mailingWatch struct {
	procs    []*notifierProcess // the first is asked; none may exit
	id       string
	n        int
	t0       time.Time
	sent     func() int64 // emails at the sink so far
	progress io.Writer
	run      string // the mode and the sink kind, for the progress lines

	walkDone     time.Duration // when counters.recipients reached n
	at10, at90   time.Duration // when the sink held 10% and 90% of n
	lastProgress time.Time
	// reads are how long each GET of the posting took while it ran (not
	// the last, final one): an operator's status read during a mailing.
	reads []time.Duration
}

// wait polls the posting until it is final, and returns it.
func (w *mailingWatch) wait(ctx context.Context, timeout time.Duration) (posting, error) {
	var last posting
	deadline := w.t0.Add(timeout)
	w.lastProgress = w.t0
	for {
		now := time.Since(w.t0)
		if sent := w.sent(); w.at10 == 0 && sent*10 >= int64(w.n) {
			w.at10 = now
		} else if w.at90 == 0 && sent*10 >= int64(w.n)*9 {
			w.at90 = now
		}
		if time.Since(w.lastProgress) >= 10*time.Second {
			w.lastProgress = time.Now()
			fmt.Fprintf(w.progress, "notifier-bench: %s: %.0f s: %d of %d emails at the sink\n", w.run, now.Seconds(), w.sent(), w.n)
		}
		asked := time.Now()
		p, err := w.procs[0].getPosting(ctx, w.id)
		took := time.Since(asked)
		if err == nil {
			last = p
			if !slices.Contains([]string{"completed", "cancelled", "expired", "failed"}, p.Status) {
				w.reads = append(w.reads, took)
			}
			if w.walkDone == 0 && p.Counters.Recipients >= w.n {
				w.walkDone = time.Since(w.t0)
			}
			switch p.Status {
			case "completed", "cancelled", "expired", "failed":
				return p, nil
			}
		}
		switch {
		case ctx.Err() != nil:
			return last, ctx.Err()
		case slices.ContainsFunc(w.procs, (*notifierProcess).exited):
			return last, errors.New("a notifier exited during the mailing")
		case time.Now().After(deadline):
			return last, fmt.Errorf("not completed after %s", timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// steadyRate is the rate between 10% and 90% of the emails at the sink:
// the fan-out without its start and its tail. Zero when unknown.
func (w *mailingWatch) steadyRate() float64 {
	if w.at10 == 0 || w.at90 <= w.at10 {
		return 0
	}
	return 0.8 * float64(w.n) / (w.at90 - w.at10).Seconds()
}

// checkMode lists what went wrong in a run: a mailing that did not
// complete, counters or sink counts other than N, lost or failed codes.
func checkMode(res modeResult, waitErr error) []string {
	var problems []string
	n := int64(res.Recipients)
	if waitErr != nil {
		problems = append(problems, fmt.Sprintf("the mailing did not complete: %v (last status %q)", waitErr, res.Posting.Status))
	} else if res.Posting.Status != "completed" {
		problems = append(problems, fmt.Sprintf("the mailing ended %q, not completed", res.Posting.Status))
	}
	c := res.Posting.Counters
	if int64(c.Recipients) != n || int64(c.Sent) != n {
		problems = append(problems, fmt.Sprintf("counters: %d recipients and %d sent, want %d each (skipped %d, failed %d, expired %d)",
			c.Recipients, c.Sent, n, c.Skipped, c.Failed, c.Expired))
	}
	s := res.Sink
	if s.Messages != n || s.Distinct != n || s.Recipients != n {
		problems = append(problems, fmt.Sprintf("the sink received %d messages for %d recipients (%d distinct, %d not benchmark users), want exactly %d",
			s.Messages, s.Recipients, s.Distinct, s.Foreign, n))
	}
	if s.OutOfTurn > 0 {
		problems = append(problems, fmt.Sprintf("the sink (SMTP %s) got %d commands or messages before the reply they had to wait for: the notifier pipelined what the server did not offer",
			s.Extensions, s.OutOfTurn))
	}
	if res.Codes.Errors > 0 {
		problems = append(problems, fmt.Sprintf("%d phone-code POSTs failed", res.Codes.Errors))
	}
	if lost := res.Codes.Posted - res.Codes.Arrived; lost > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d phone codes never reached the gateway (waited 30 s after the mailing)", lost, res.Codes.Posted))
	}
	if t := res.Traces; res.Traced && (t == nil || t.Bad > 0 || t.Spans == 0) {
		problems = append(problems, fmt.Sprintf("the trace collector received no usable export: %+v", t))
	}
	return problems
}

// prober posts a phone code every so often and, from the gateway's
// arrival times, measures how long each took to be sent.
type prober struct {
	proc    *notifierProcess
	gateway *smsGateway
	users   int
	runID   string

	wg     sync.WaitGroup
	mu     sync.Mutex
	sent   map[string]time.Time // code -> when its POST started
	errors int
}

// run posts a code every interval until ctx ends; each POST runs on its
// own so that a slow answer does not delay the next.
func (p *prober) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		code := strconv.Itoa(100000 + seq)
		user := (seq*7919)%p.users + 1
		p.wg.Go(func() {
			// A POST in flight is not cut short when the mailing ends.
			reqCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			start := time.Now()
			_, err := p.proc.createPosting(reqCtx, "bench-code-"+p.runID+"-"+code, map[string]any{
				"from_event":       "bench-code-" + code,
				"receivers":        "http://auth/api/v1/users/?id=" + userID(user),
				"template":         "sms/phone_confirmation.md",
				"delivery_type":    []string{"sms"},
				"expires_in":       "120 sec",
				"template_context": map[string]any{"secret_code": code},
			})
			p.mu.Lock()
			defer p.mu.Unlock()
			if err != nil {
				p.errors++
				return
			}
			p.sent[code] = start
		})
	}
}

// collect waits for the POSTs in flight, then up to wait for the codes
// still on their way, and summarises their latencies.
func (p *prober) collect(wait time.Duration) codeResult {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	deadline := time.Now().Add(wait)
	var latencies []time.Duration
	for {
		latencies = latencies[:0]
		for code, start := range p.sent {
			if at, ok := p.gateway.arrival(code); ok {
				latencies = append(latencies, at.Sub(start))
			}
		}
		if len(latencies) == len(p.sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return codeResult{Posted: len(p.sent), Arrived: len(latencies), Errors: p.errors, Latency: summarize(latencies)}
}
