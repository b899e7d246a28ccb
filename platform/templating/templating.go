// Package templating renders notification templates.
//
// A template is a Markdown file with pongo2 (Django-style) syntax and optional YAML front matter,
// named after its channel directory:
//
//	---
//	subject: "Новинки для {{ user.first_name|default:user.username }}"
//	---
//	# Здравствуйте, {{ user.first_name|default:user.username }}!
//
// An email template ("email/...") renders to a subject, a plain-text part (the Markdown after
// pongo2) and an HTML part (pongo2 with HTML autoescaping, then Markdown, then the layout
// layouts/email.html). An SMS template ("sms/...") renders to a single line of text.
//
// Templates load only from the fs.FS given to New. The pongo2 tags that reach other files (ssi,
// include, import, extends) are banned, and so are the tags that keep state between renders
// (cycle, ifchanged), since one parsed template serves every render.
package templating

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/flosch/pongo2/v6"
	"github.com/yuin/goldmark"
)

const (
	channelEmail = "email"
	channelSMS   = "sms"

	// LayoutName is the layout every email's HTML part is wrapped in. It receives the template's
	// context plus subject (the rendered subject) and content (the HTML body, safe to print with
	// {{ content|safe }}).
	LayoutName = "layouts/email.html"

	templateExt = ".md"
)

// bannedTags are refused in every template: the first four read other files (ssi reads any file
// on the host, whatever the loader), the last two mutate the parsed template while rendering.
var bannedTags = []string{"ssi", "include", "import", "extends", "cycle", "ifchanged"}

// Rendered is a template rendered for one recipient.
type Rendered struct {
	// Subject is the email subject on one line; empty for SMS.
	Subject string
	// Text is the plain-text part of an email (Markdown) or the text of an SMS.
	Text string
	// HTML is the full HTML document of an email; empty for SMS.
	HTML string
}

// Renderer renders the templates of one file system. Parsed templates are cached for the life of
// the Renderer, so edits to files on disk are seen only by a new Renderer. A Renderer is safe
// for concurrent use.
type Renderer struct {
	fsys     fs.FS
	markdown goldmark.Markdown
	layout   *pongo2.Template

	// mu guards cache and every parse in set: pongo2 writes to the set without locking.
	mu    sync.RWMutex
	set   *pongo2.TemplateSet
	cache map[string]*compiled
}

// compiled is a parsed template.
type compiled struct {
	channel string
	// subject renders the subject of an email; nil for SMS.
	subject       *pongo2.Template
	subjectOffset int
	// text renders the body verbatim: the plain-text part of an email, or an SMS.
	text *pongo2.Template
	// html renders the body with HTML escaping, ready for Markdown; nil for SMS.
	html       *pongo2.Template
	bodyOffset int
}

// New returns a Renderer of the templates in fsys, such as templates.FS or os.DirFS of a
// configured directory. It fails when fsys has no valid layout (LayoutName); the templates
// themselves are parsed on first use or by Validate.
func New(fsys fs.FS) (*Renderer, error) {
	if fsys == nil {
		return nil, errors.New("new renderer: nil file system")
	}
	set := pongo2.NewSet("notifier", pongo2.NewFSLoader(fsys))
	for _, tag := range bannedTags {
		if err := set.BanTag(tag); err != nil {
			return nil, fmt.Errorf("ban pongo2 tag %q: %w", tag, err)
		}
	}
	r := &Renderer{
		fsys:     fsys,
		markdown: goldmark.New(),
		set:      set,
		cache:    make(map[string]*compiled),
	}

	raw, err := fs.ReadFile(fsys, LayoutName)
	if err != nil {
		return nil, fmt.Errorf("read layout: %w", err)
	}
	if !utf8.Valid(raw) {
		return nil, &TemplateError{Name: LayoutName, Err: errors.New("file is not valid UTF-8")}
	}
	r.layout, _, err = r.compile(LayoutName, string(raw), 0)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Render renders the named template (such as "email/new_movies.md") with data. Every value is
// reachable by its key ({{ user.first_name }}); a missing value renders as empty. Maps should
// use the keys templates name (snake_case): pongo2 reads struct fields by their Go names.
//
// Render returns an error wrapping ErrTemplateNotFound or ErrUnknownChannel for a bad name, and
// a *TemplateError for a template that cannot be parsed or rendered.
func (r *Renderer) Render(name string, data map[string]any) (out Rendered, err error) {
	c, err := r.load(name)
	if err != nil {
		return Rendered{}, err
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = Rendered{}, &TemplateError{Name: name, Err: fmt.Errorf("render: panic: %v", p)}
		}
	}()
	ctx := newContext(data)

	text, err := execute(name, c.text, c.bodyOffset, ctx)
	if err != nil {
		return Rendered{}, err
	}
	if c.channel == channelSMS {
		return Rendered{Text: strings.Join(strings.Fields(text), " ")}, nil
	}

	subject, err := execute(name, c.subject, c.subjectOffset, ctx)
	if err != nil {
		return Rendered{}, err
	}
	out.Subject = headerLine(subject)
	out.Text = plainText(text)

	escaped, err := execute(name, c.html, c.bodyOffset, markdownSafe(ctx))
	if err != nil {
		return Rendered{}, err
	}
	var body bytes.Buffer
	if err := r.markdown.Convert([]byte(escaped), &body); err != nil {
		return Rendered{}, &TemplateError{Name: name, Err: fmt.Errorf("convert markdown: %w", err)}
	}
	layoutCtx := make(pongo2.Context, len(ctx)+2)
	layoutCtx.Update(ctx)
	layoutCtx["subject"] = out.Subject
	layoutCtx["content"] = body.String()
	out.HTML, err = execute(LayoutName, r.layout, 0, layoutCtx)
	if err != nil {
		return Rendered{}, err
	}
	return out, nil
}

// Exists reports whether name is a valid template name, under a channel directory, of a file in
// the file system. It does not parse the file; Validate does.
func (r *Renderer) Exists(name string) bool {
	if _, err := channelOf(name); err != nil {
		return false
	}
	info, err := fs.Stat(r.fsys, name)
	return err == nil && !info.IsDir()
}

// Validate parses the named template without rendering it, so that a posting naming an unknown
// or broken template is refused when it is created. The parsed template is cached for Render.
// It returns the same errors as Render.
func (r *Renderer) Validate(name string) error {
	_, err := r.load(name)
	return err
}

// Names returns the name of every template in the file system, sorted. It does not check that
// they parse.
func (r *Renderer) Names() []string {
	var names []string
	for _, dir := range []string{channelEmail, channelSMS} {
		// Unreadable directories are skipped: they hold no template Render could load.
		_ = fs.WalkDir(r.fsys, dir, func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if _, err := channelOf(name); err == nil {
				names = append(names, name)
			}
			return nil
		})
	}
	slices.Sort(names)
	return names
}

// load returns the parsed template from the cache, parsing it on first use. Failures are not
// cached, so that names from callers cannot grow the cache.
func (r *Renderer) load(name string) (*compiled, error) {
	channel, err := channelOf(name)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	c, ok := r.cache[name]
	r.mu.RUnlock()
	if ok {
		return c, nil
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cache[name]; ok {
		return c, nil
	}
	if !r.Exists(name) {
		return nil, fmt.Errorf("%w: %q", ErrTemplateNotFound, name)
	}
	raw, err := fs.ReadFile(r.fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read template %q: %w", name, err)
	}
	src, err := parseSource(name, raw)
	if err != nil {
		return nil, err
	}

	if channel == channelEmail && !src.hasSubject {
		return nil, &TemplateError{Name: name, Line: 1, Err: errors.New("email template has no subject in its front matter")}
	}

	c = &compiled{channel: channel, bodyOffset: src.bodyOffset}
	c.html, c.text, err = r.compile(name, src.body, src.bodyOffset)
	if err != nil {
		return nil, err
	}
	if channel == channelEmail {
		c.subjectOffset = src.subjectOffset
		if _, c.subject, err = r.compile(name, src.subject, src.subjectOffset); err != nil {
			return nil, err
		}
	} else {
		c.html = nil
	}
	r.cache[name] = c
	return c, nil
}

// compile parses src into two templates, one that escapes values for HTML and one that prints
// them verbatim. pongo2's autoescape switch is global, so each mode is fixed by wrapping src in
// an autoescape block; the block opens on src's first line and closes on its last, so pongo2's
// line numbers stay those of src. src is parsed unwrapped first, for errors that name the
// author's tags rather than the wrapper (an unclosed {% if %} would otherwise be reported as a
// missing endautoescape). lineOffset is the number of file lines before src. The caller holds
// r.mu or is New.
func (r *Renderer) compile(name, src string, lineOffset int) (escaped, verbatim *pongo2.Template, err error) {
	if _, err := r.set.FromString(src); err != nil {
		return nil, nil, templateError(name, lineOffset, err)
	}
	src = strings.TrimRight(src, " \t\r\n")
	escaped, err = r.set.FromString("{% autoescape on %}" + src + "{% endautoescape %}")
	if err != nil {
		return nil, nil, templateError(name, lineOffset, err)
	}
	verbatim, err = r.set.FromString("{% autoescape off %}" + src + "{% endautoescape %}")
	if err != nil {
		return nil, nil, templateError(name, lineOffset, err)
	}
	return escaped, verbatim, nil
}

// execute renders tpl, reporting errors against the named file.
func execute(name string, tpl *pongo2.Template, lineOffset int, ctx pongo2.Context) (string, error) {
	out, err := tpl.Execute(ctx)
	if err != nil {
		return "", templateError(name, lineOffset, err)
	}
	return out, nil
}

// channelOf checks a template name and returns its channel. It returns an error wrapping
// ErrTemplateNotFound for a malformed name and one wrapping ErrUnknownChannel for a name outside
// the channel directories.
func channelOf(name string) (string, error) {
	if !fs.ValidPath(name) || name == "." || strings.Contains(name, `\`) || path.Ext(name) != templateExt {
		return "", fmt.Errorf("%w: invalid name %q", ErrTemplateNotFound, name)
	}
	dir, _, _ := strings.Cut(name, "/")
	switch dir {
	case channelEmail, channelSMS:
		return dir, nil
	default:
		return "", fmt.Errorf("%w: %q", ErrUnknownChannel, name)
	}
}

// plainText trims the blank lines at both ends of s, trailing spaces, and folds each run of
// blank lines into one, as Markdown reads them anyway.
func plainText(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, line := range lines {
		line = strings.TrimRight(line, " \t\r")
		if line == "" && (len(out) == 0 || out[len(out)-1] == "") {
			continue
		}
		out = append(out, line)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// headerLine makes s safe for a mail header: control characters and line separators (CR and LF
// above all, which would start a new header) become spaces, runs of spaces fold into one.
func headerLine(s string) string {
	s = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return ' '
		}
		return c
	}, s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, c := range strings.TrimSpace(s) {
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(c)
	}
	return b.String()
}
