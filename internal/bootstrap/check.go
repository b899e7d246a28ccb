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
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

// checks judge, before the fx graph is built, the settings that package
// config cannot judge alone.
var checks = []config.Check{
	deliveryfx.Validate,
	preferencesfx.Validate,
	eventintakefx.Validate,
	checkTemplates,
}

// LoadConfig loads the configuration (config.Load) and judges all of it
// before any piece is built: config's own rules, then the modules' and the
// templates'. A configuration that cannot be used returns a *config.Error
// listing every problem, one per line, each naming its setting.
func LoadConfig(getenv func(string) string) (config.Config, error) {
	return config.Load(getenv, checks...)
}

// checkTemplates parses every template of templates.dir (or the built-in
// ones) and checks that the template of each intake flow is one of them.
func checkTemplates(cfg config.Config) error {
	var fsys fs.FS = templates.FS
	if dir := cfg.Templates.Dir; dir != "" {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return nil // config names the folder
		}
		fsys = os.DirFS(dir)
	}
	r, err := templating.New(fsys)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Setting("templates.dir"), err)
	}
	var errs []error
	for _, name := range r.Names() {
		if err := r.Validate(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cfg.Setting("templates.dir"), err))
		}
	}
	for _, event := range slices.Sorted(maps.Keys(cfg.Intake.Flows)) {
		if name := cfg.Intake.Flows[event].Template; name != "" && !r.Exists(name) {
			errs = append(errs, fmt.Errorf("intake.flows.%s.template: no template %q", event, name))
		}
	}
	return errors.Join(errs...)
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
