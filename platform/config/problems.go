package config

import (
	"fmt"
	"strings"
)

// Error is a configuration that cannot be used. It lists every problem
// found, so that one start shows them all.
type Error struct {
	// Problems has one line per problem, "setting: what it needs", the
	// setting named as Config.Setting names it.
	Problems []string
}

// Error returns the problems, one per line.
func (e *Error) Error() string { return strings.Join(e.Problems, "\n") }

// Check judges settings that package config cannot judge alone, such as
// a module's own section or the templates of templates.dir; Load and
// LoadUnvalidated run the checks they are given after their own. The error
// holds one problem per line (or per error of an errors.Join), each
// starting with the name of its setting (Config.Setting).
type Check func(Config) error

// origin says where the settings of a loaded configuration came from.
type origin struct {
	file   string            // the NOTIFIER_CONFIG path, if any
	inFile map[string]bool   // YAML keys the file set
	env    map[string]string // YAML key → the environment variable that set it
	broken map[string]bool   // keys whose value could not be read: not judged again
}

func newOrigin() *origin {
	return &origin{inFile: map[string]bool{}, env: map[string]string{}, broken: map[string]bool{}}
}

// Setting names the setting at a YAML key ("api.tokens") as the operator
// set it: the environment variable when one set it, the key when the
// NOTIFIER_CONFIG file did, else the variable that can set it followed by
// the key ("NOTIFIER_API_TOKENS (api.tokens)"), or the key alone when no
// variable can.
func (c Config) Setting(key string) string {
	if c.origin != nil {
		if name, ok := c.origin.env[key]; ok {
			return name
		}
		if c.origin.inFile[key] {
			return key
		}
	}
	if name := envName(key); name != "" {
		return name + " (" + key + ")"
	}
	return key
}

// problems collects the problems of one configuration.
type problems struct {
	c    Config
	list []string
}

// add records a problem of the setting at key, unless its value already
// failed to load (that problem was reported).
func (p *problems) add(key, format string, args ...any) {
	if p.c.origin != nil && p.c.origin.broken[key] {
		return
	}
	p.list = append(p.list, p.c.Setting(key)+": "+fmt.Sprintf(format, args...))
}

// missing records that the setting at key is required but empty; when the
// file emptied it, the problem also names the variable that can set it.
func (p *problems) missing(key, format string, args ...any) {
	if name := envName(key); name != "" && p.c.Setting(key) == key {
		format += " (or set " + name + ")"
	}
	p.add(key, format, args...)
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &Error{Problems: p.list}
}

// problemLines returns the problems err holds, one per element: the problems of
// an *Error, the errors of an errors.Join, or the lines of any other
// error's message.
func problemLines(err error) []string {
	if err == nil {
		return nil
	}
	if ce, ok := err.(*Error); ok {
		return ce.Problems
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, problemLines(e)...)
		}
		return out
	}
	var out []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}
