// Command notifier runs the Notifier service.
//
//	notifier serve     run the service (in memory with no configuration)
//	notifier migrate   apply the database migrations
//	notifier version   print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"
	"time"
	_ "time/tzdata" // quiet hours read users' time zones, whatever the image holds

	"go.uber.org/fx"

	"github.com/notifier/notifier/internal/bootstrap"
	"github.com/notifier/notifier/migrations"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/logging"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `Notifier: notifications by email and SMS for the online cinema.

Usage:
  notifier serve     run the service (in memory, on :8080, with no configuration)
  notifier migrate   apply pending database migrations to NOTIFIER_DATABASE_URL
  notifier version   print the version

Configuration: configs/default.yaml, overlaid by the file in NOTIFIER_CONFIG and
by NOTIFIER_* environment variables (see README.md).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run executes one command; serve runs until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return report(stderr, serve(ctx, stderr, getenv))
	case "migrate":
		return report(stderr, migrate(ctx, stderr, getenv))
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "notifier", currentVersion())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "notifier: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// Exit statuses besides 0.
const (
	exitFailure = 1 // the service failed: a database that refuses, a port in use
	exitUsage   = 2 // the command or its configuration is wrong
)

// report prints err, if any, and returns the exit status: a configuration
// that cannot be used is listed one problem per line and exits with
// exitUsage; any other failure is one line and exits with exitFailure.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var cerr *config.Error
	if errors.As(err, &cerr) {
		fmt.Fprintln(stderr, "notifier: configuration:")
		for _, p := range cerr.Problems {
			fmt.Fprintln(stderr, "  "+p)
		}
		return exitUsage
	}
	fmt.Fprintln(stderr, "notifier:", err)
	return exitFailure
}

// gcPercent is the garbage collector's target for serve when GOGC is not
// set: the heap may grow to three times what is live before a collection,
// instead of twice. The live heap is small (tens of MB) and a mailing
// allocates fast, so Go's default collected several times a second. In
// make bench at 50,000 it gave 5-10% more recipients/s for 8 MB more peak
// RSS in amqp mode (docs/BENCHMARKS.md); 400 gained little more for
// another 17 MB.
const gcPercent = 200

// tuneGC sets gcPercent unless GOGC is set.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

func serve(ctx context.Context, logOut io.Writer, getenv func(string) string) error {
	tuneGC(getenv)
	cfg, err := bootstrap.LoadConfig(getenv)
	traces, terr := bootstrap.LoadTracing(getenv)
	if err := joinProblems(err, terr); err != nil {
		return err
	}
	logger := logging.New(logOut, cfg.Log.Level, cfg.Log.Format)
	logger.Info("starting notifier", "version", currentVersion(), "transport", cfg.Transport)

	app := fx.New(bootstrap.App(bootstrap.Options{Config: cfg, Logger: logger, Version: currentVersion(), Tracing: traces}))
	// A stop asked for while starting is honoured once started: the
	// start is not cut short half way (a cancelled start is an error).
	startCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		logger.Debug("start failed", "error", err)
		return fmt.Errorf("start: %w", bootstrap.Cause(err))
	}
	<-ctx.Done()
	logger.Info("stopping notifier")
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		logger.Debug("stop failed", "error", err)
		return fmt.Errorf("stop: %w", bootstrap.Cause(err))
	}
	return nil
}

// joinProblems returns the configuration's error and the tracing
// settings' as one, their problems listed together when both are
// *config.Error, so that one start shows them all.
func joinProblems(cfgErr, tracingErr error) error {
	var a, b *config.Error
	switch {
	case cfgErr == nil:
		return tracingErr
	case tracingErr == nil:
		return cfgErr
	case errors.As(cfgErr, &a) && errors.As(tracingErr, &b):
		return &config.Error{Problems: append(slices.Clone(a.Problems), b.Problems...)}
	default:
		return cfgErr
	}
}

func migrate(ctx context.Context, logOut io.Writer, getenv func(string) string) error {
	cfg, err := config.LoadUnvalidated(getenv, config.Config.ValidateForMigrate)
	if err != nil {
		return err
	}
	logger := logging.New(logOut, cfg.Log.Level, cfg.Log.Format)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	pool, err := db.Open(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool, migrations.FS, logger); err != nil {
		return err
	}
	logger.Info("database is up to date")
	return nil
}

func currentVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
