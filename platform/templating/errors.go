package templating

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/flosch/pongo2/v6"
)

// ErrTemplateNotFound is returned for a template name that is malformed (absolute, with a ".."
// element, not ending in ".md") or that names no file in the renderer's file system.
var ErrTemplateNotFound = errors.New("template not found")

// ErrUnknownChannel is returned for a template name outside the channel directories
// ("email/", "sms/", "inapp/" and "webhook/").
var ErrUnknownChannel = errors.New("template is not under a known channel directory")

// TemplateError reports a template that cannot be parsed or rendered. Line counts the lines of
// the file itself, front matter included, so an author can go straight to it.
type TemplateError struct {
	// Name is the template's name, such as "email/welcome.md".
	Name string
	// Line is the 1-based line in the file, or 0 when the position is unknown.
	Line int
	// Err says what is wrong.
	Err error
}

// Error returns the error as "name:line: message", the form compilers use.
func (e *TemplateError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Name, e.Err)
}

// Unwrap returns the underlying error.
func (e *TemplateError) Unwrap() error { return e.Err }

// templateError turns an error from pongo2 into a *TemplateError for the named file. pongo2
// counts lines from the start of the string it parsed; lineOffset is the number of file lines
// before that string. pongo2's own message is dropped because it repeats that wrong line number.
func templateError(name string, lineOffset int, err error) error {
	var pe *pongo2.Error
	if !errors.As(err, &pe) {
		return &TemplateError{Name: name, Err: err}
	}
	cause := pe.OrigError
	if cause == nil {
		cause = fmt.Errorf("template %s error", pe.Sender)
	}
	if pe.Token != nil && pe.Token.Typ != pongo2.TokenHTML {
		cause = fmt.Errorf("near %q: %w", pe.Token.Val, cause)
	}
	te := &TemplateError{Name: name, Err: cause}
	if pe.Line > 0 {
		te.Line = pe.Line + lineOffset
	}
	return te
}

var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// frontMatterError turns an error from the YAML parser into a *TemplateError. yaml.v3 counts
// lines from the start of the front matter, which begins on line 2 of the file.
func frontMatterError(name string, err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			return &TemplateError{Name: name, Line: line + 1, Err: fmt.Errorf("front matter: %s", m[2])}
		}
	}
	return &TemplateError{Name: name, Line: 1, Err: fmt.Errorf("front matter: %w", err)}
}
