package bootstrap

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"

	"go.uber.org/dig"

	"github.com/notifier/notifier/modules/delivery/deliveryfx"
	"github.com/notifier/notifier/modules/eventintake/eventintakefx"
	"github.com/notifier/notifier/modules/preferences/preferencesfx"
	"github.com/notifier/notifier/modules/webhooks/webhooksfx"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/tracing"
	"github.com/notifier/notifier/templates"
)

// checks judge, before the fx graph is built, the settings that package
// config cannot judge alone.
var checks = []config.Check{
	deliveryfx.Validate,
	preferencesfx.Validate,
	eventintakefx.Validate,
	webhooksfx.Validate,
	checkTemplates,
}

// LoadConfig loads the configuration (config.Load) and judges all of it
// before any piece is built: config's own rules, then the modules' and the
// templates'. A configuration that cannot be used returns a *config.Error
// listing every problem, one per line, each naming its setting.
func LoadConfig(getenv func(string) string) (config.Config, error) {
	return config.Load(getenv, checks...)
}

// LoadTracing reads the tracing settings from the standard OTEL_* variables
// (tracing.FromEnv). Values that cannot be used are a *config.Error with
// one problem per variable.
func LoadTracing(getenv func(string) string) (tracing.Settings, error) {
	s, err := tracing.FromEnv(getenv)
	if err != nil {
		var problems []string
		for _, e := range unjoin(err) {
			problems = append(problems, e.Error())
		}
		return tracing.Settings{}, &config.Error{Problems: problems}
	}
	return s, nil
}

// checkTemplates parses every file of every template of templates.dir (or
// the built-in ones), each locale's included, checks that each template has
// a file for templates.default_locale (or a bare one), and that the
// template of each intake flow is one of them, named without a locale.
func checkTemplates(cfg config.Config) error {
	var fsys fs.FS = templates.FS
	if dir := cfg.Templates.Dir; dir != "" {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return nil // config names the folder
		}
		fsys = os.DirFS(dir)
	}
	if _, err := templating.ParseLocale(cfg.Templates.DefaultLocale); err != nil {
		return nil // config names the default locale
	}
	r, err := templating.New(fsys, cfg.Templates.DefaultLocale)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Setting("templates.dir"), err)
	}
	var errs []error
	for _, name := range r.Names() {
		if err := r.Validate(name); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("%s: %w", cfg.Setting("templates.dir"), e))
			}
		}
	}
	for _, event := range slices.Sorted(maps.Keys(cfg.Intake.Flows)) {
		name := cfg.Intake.Flows[event].Template
		if name == "" || r.Exists(name) {
			continue
		}
		if base, locale, ok := r.VariantOf(name); ok {
			errs = append(errs, fmt.Errorf("intake.flows.%s.template: %q is the %s file of %q: name %q, each recipient's locale picks its file",
				event, name, locale, base, base))
			continue
		}
		errs = append(errs, fmt.Errorf("intake.flows.%s.template: no template %q", event, name))
	}
	return errors.Join(errs...)
}

// unjoin returns the errors errors.Join joined into err, or err alone, so
// that each broken file is a problem of its own line.
func unjoin(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}

// goInternals matches what fx and dig wrap an error in: function names,
// source files and their own names.
var goInternals = regexp.MustCompile(`\.go:\d+|func\d+|github\.com/|go\.uber\.org/|\bfx\.|\bdig\.`)

// errWiring stands for a failure inside the fx graph itself, a programming
// error whose words are all Go names.
var errWiring = errors.New("the application's parts do not fit together (a bug; NOTIFIER_LOG_LEVEL=debug logs the details)")

// Cause returns what went wrong, in words, in an error fx returned while
// building or starting the application: the error of the constructor or
// hook that failed (a database that refuses, a port in use), without the
// function names and file paths fx and dig wrap it in. A failure of the
// graph itself becomes a generic error; the caller may log err at debug
// level for the details.
func Cause(err error) error {
	if err == nil {
		return nil
	}
	cause := dig.RootCause(err)
	var own dig.Error // the graph's own failure, such as a missing type
	if errors.As(cause, &own) || goInternals.MatchString(cause.Error()) {
		return errWiring
	}
	return cause
}
