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
// layouts/email.html). An SMS template ("sms/...") renders to a single line of text. An in-app
// template ("inapp/...") renders to a title (its front matter's subject, required) and a body
// of Markdown text, the plain-text part an email would have: no HTML and no layout, the
// client renders the Markdown. A webhook template ("webhook/...") renders the same way, for the
// receiver of the webhook channel's call.
//
// # Locales
//
// A template is named without a locale ("email/new_movies.md"); its files may be one per locale,
// the locale (a canonical BCP 47 tag, see ParseLocale) before the extension:
// "email/new_movies.en.md", "email/new_movies.en-GB.md", "email/new_movies.ru.md". RenderLocale
// renders, for a recipient's locale, the file of that locale, else of its language ("en-GB"
// gives "en"), else of the default locale given to New (or its language), else the bare file
// "email/new_movies.md", which is taken to be in the default locale. The layout's files resolve
// the same way for the locale the template was rendered in ("layouts/email.en.html", then
// "layouts/email.html"), and the layout gets that locale as {{ locale }} (for <html lang>).
// A locale that is not a language tag counts as none: the default locale's file is rendered.
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
	channelInApp = "inapp"
	// channelWebhook renders as channelInApp does: a title and Markdown.
	channelWebhook = "webhook"

	// LayoutName is the layout every email's HTML part is wrapped in, or rather the name its
	// files go by: "layouts/email.<locale>.html" for a locale, else this file. It receives the
	// template's context plus subject (the rendered subject), content (the HTML body, safe to
	// print with {{ content|safe }}) and locale (the locale the template was rendered in, such
	// as "en-GB").
	LayoutName = "layouts/email.html"

	templateExt = ".md"
	layoutExt   = ".html"

	// maxResolutions bounds the cache of resolved (template, locale) pairs. Locales come from
	// the directory; past this many pairs, a pair not cached is resolved at each render, from
	// the families and files already read (no file system work).
	maxResolutions = 4096
)

// bannedTags are refused in every template: the first four read other files (ssi reads any file
// on the host, whatever the loader), the last two mutate the parsed template while rendering.
var bannedTags = []string{"ssi", "include", "import", "extends", "cycle", "ifchanged"}

// Rendered is a template rendered for one recipient.
type Rendered struct {
	// Subject is the email subject or the in-app or webhook title, on one line; empty for SMS.
	Subject string
	// Text is the plain-text part of an email or the body of an in-app message (Markdown), or the
	// text of an SMS.
	Text string
	// HTML is the full HTML document of an email; empty for SMS and in-app.
	HTML string
	// Locale is the locale the message is in: that of the file rendered, or the default locale
	// for the bare file, such as "en" for a recipient of "en-GB" when the template has no
	// en-GB file.
	Locale string
	// File is the file rendered, such as "email/welcome.en.md".
	File string
	// MalformedLocale tells that the locale asked for was not empty but no language tag
	// (ParseLocale), so the default locale was used.
	MalformedLocale bool
}

// Renderer renders the templates of one file system. Parsed templates, and which locale files
// each template has, are read once and kept for the life of the Renderer, so edits to files on
// disk (and languages added) are seen only by a new Renderer. A Renderer is safe for concurrent
// use.
type Renderer struct {
	fsys          fs.FS
	markdown      goldmark.Markdown
	defaultLocale string

	// layouts maps the name of each layout file to its parsed template; layoutFamily tells
	// which file serves which locale. Both are set by New and only read after.
	layoutFamily *family
	layouts      map[string]*pongo2.Template

	// mu guards cache, families and every parse in set: pongo2 writes to the set without
	// locking.
	mu       sync.RWMutex
	set      *pongo2.TemplateSet
	cache    map[string]*compiled
	families map[string]*family

	// resolved caches what RenderLocale resolves a (template, locale) pair to, so that a
	// mailing reads no file and parses no locale per recipient.
	resolvedMu sync.RWMutex
	resolved   map[resolveKey]*resolution
}

// resolveKey is a template name and a locale as asked for.
type resolveKey struct{ name, locale string }

// resolution is the file a (template, locale) pair renders, parsed, with its layout.
type resolution struct {
	file   string
	tpl    *compiled
	locale string
	// localeValue is locale boxed once for the layout's context.
	localeValue any
	malformed   bool
	// layoutFile and layout wrap an email's HTML part; empty and nil for SMS.
	layoutFile string
	layout     *pongo2.Template
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
// configured directory, that renders a recipient without a usable locale in defaultLocale (a
// BCP 47 tag, such as "ru"; see ParseLocale). It parses every layout file and fails when one is
// broken, when defaultLocale is not a language tag, or when no layout serves the default locale
// (LayoutName or its file of the default locale, an error wrapping fs.ErrNotExist). The
// templates themselves are parsed on first use or by Validate.
func New(fsys fs.FS, defaultLocale string) (*Renderer, error) {
	if fsys == nil {
		return nil, errors.New("new renderer: nil file system")
	}
	def, err := ParseLocale(defaultLocale)
	if err != nil {
		return nil, fmt.Errorf("new renderer: default locale: %w", err)
	}
	set := pongo2.NewSet("notifier", pongo2.NewFSLoader(fsys))
	for _, tag := range bannedTags {
		if err := set.BanTag(tag); err != nil {
			return nil, fmt.Errorf("ban pongo2 tag %q: %w", tag, err)
		}
	}
	r := &Renderer{
		fsys:          fsys,
		markdown:      goldmark.New(),
		defaultLocale: def,
		set:           set,
		cache:         make(map[string]*compiled),
		families:      make(map[string]*family),
		resolved:      make(map[resolveKey]*resolution),
		layouts:       make(map[string]*pongo2.Template),
	}
	if err := r.loadLayouts(); err != nil {
		return nil, err
	}
	return r, nil
}

// loadLayouts reads and parses every file of the layout.
func (r *Renderer) loadLayouts() error {
	f, err := readFamily(r.fsys, LayoutName, layoutExt)
	if err != nil {
		return fmt.Errorf("read layout: %w", err)
	}
	if len(f.misnamed) > 0 {
		return misnamedError(f.misnamed[0], layoutExt)
	}
	if !f.resolves(r.defaultLocale) {
		return fmt.Errorf("read layout: no %s nor %s: %w",
			LayoutName, variantName(LayoutName, layoutExt, r.defaultLocale), fs.ErrNotExist)
	}
	for _, name := range f.paths() {
		raw, err := fs.ReadFile(r.fsys, name)
		if err != nil {
			return fmt.Errorf("read layout: %w", err)
		}
		if !utf8.Valid(raw) {
			return &TemplateError{Name: name, Err: errors.New("file is not valid UTF-8")}
		}
		r.layouts[name], _, err = r.compile(name, string(raw), 0)
		if err != nil {
			return err
		}
	}
	r.layoutFamily = f
	return nil
}

// DefaultLocale returns the canonical form of the default locale given to New.
func (r *Renderer) DefaultLocale() string { return r.defaultLocale }

// Render renders the named template (such as "email/new_movies.md") in the default locale:
// RenderLocale with no locale.
func (r *Renderer) Render(name string, data map[string]any) (Rendered, error) {
	return r.RenderLocale(name, "", data)
}

// RenderLocale renders the named template (such as "email/new_movies.md") with data for a
// recipient of locale (a BCP 47 tag as the directory gives it, such as "en_GB"; empty when
// unknown), choosing its file as the package documentation says; Rendered.Locale and
// Rendered.File tell which. A locale that is no language tag is not an error: the default
// locale's file is rendered and Rendered.MalformedLocale is set.
//
// Every value is reachable by its key ({{ user.first_name }}); a missing value renders as
// empty. Maps should use the keys templates name (snake_case): pongo2 reads struct fields by
// their Go names.
//
// It returns an error wrapping ErrTemplateNotFound or ErrUnknownChannel for a bad name (also
// wrapping ErrLocaleVariant for the name of a locale file), and a *TemplateError, naming the
// file, for a template that cannot be parsed or rendered.
func (r *Renderer) RenderLocale(name, locale string, data map[string]any) (out Rendered, err error) {
	res, err := r.resolve(name, locale)
	if err != nil {
		return Rendered{}, err
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = Rendered{}, &TemplateError{Name: res.file, Err: fmt.Errorf("render: panic: %v", p)}
		}
	}()
	c := res.tpl
	ctx := newContext(data)
	out = Rendered{Locale: res.locale, File: res.file, MalformedLocale: res.malformed}

	text, err := execute(res.file, c.text, c.bodyOffset, ctx)
	if err != nil {
		return Rendered{}, err
	}
	if c.channel == channelSMS {
		out.Text = strings.Join(strings.Fields(text), " ")
		return out, nil
	}

	subject, err := execute(res.file, c.subject, c.subjectOffset, ctx)
	if err != nil {
		return Rendered{}, err
	}
	out.Subject = headerLine(subject)
	out.Text = plainText(text)
	if c.channel == channelInApp || c.channel == channelWebhook {
		return out, nil
	}

	escaped, err := execute(res.file, c.html, c.bodyOffset, markdownSafe(ctx))
	if err != nil {
		return Rendered{}, err
	}
	var body bytes.Buffer
	if err := r.markdown.Convert([]byte(escaped), &body); err != nil {
		return Rendered{}, &TemplateError{Name: res.file, Err: fmt.Errorf("convert markdown: %w", err)}
	}
	layoutCtx := make(pongo2.Context, len(ctx)+3)
	layoutCtx.Update(ctx)
	layoutCtx["subject"] = out.Subject
	layoutCtx["content"] = body.String()
	layoutCtx["locale"] = res.localeValue
	out.HTML, err = execute(res.layoutFile, res.layout, 0, layoutCtx)
	if err != nil {
		return Rendered{}, err
	}
	return out, nil
}

// resolve returns what name renders for locale: from the cache, or resolved and cached (up to
// maxResolutions pairs). Failures are not cached, so that names from callers cannot grow it.
func (r *Renderer) resolve(name, locale string) (*resolution, error) {
	key := resolveKey{name: name, locale: locale}
	r.resolvedMu.RLock()
	res, ok := r.resolved[key]
	r.resolvedMu.RUnlock()
	if ok {
		return res, nil
	}

	channel, err := checkName(name)
	if err != nil {
		return nil, err
	}
	f, err := r.family(name)
	if err != nil {
		return nil, err
	}
	res = &resolution{}
	tag := ""
	if locale != "" {
		if tag, err = ParseLocale(locale); err != nil {
			tag, res.malformed = "", true
		}
	}
	file, used, ok := f.pick(tag, r.defaultLocale)
	if !ok { // the family was cached because it resolves
		return nil, fmt.Errorf("%w: %q", ErrTemplateNotFound, name)
	}
	res.file, res.locale, res.localeValue = file, used, used
	if res.tpl, err = r.load(file, channel); err != nil {
		return nil, err
	}
	if channel == channelEmail {
		// The layouts resolve for the default locale (New checked), so for any.
		res.layoutFile, _, _ = r.layoutFamily.pick(used, r.defaultLocale)
		res.layout = r.layouts[res.layoutFile]
	}

	r.resolvedMu.Lock()
	defer r.resolvedMu.Unlock()
	if cached, ok := r.resolved[key]; ok {
		return cached, nil
	}
	if len(r.resolved) < maxResolutions {
		r.resolved[key] = res
	}
	return res, nil
}

// family returns the files of the template name, read on first use. A template that has no
// file for the default locale (nor a bare one) is not kept, so that names from callers cannot
// grow the cache; the error then wraps ErrTemplateNotFound.
func (r *Renderer) family(name string) (*family, error) {
	r.mu.RLock()
	f, ok := r.families[name]
	r.mu.RUnlock()
	if ok {
		return f, nil
	}
	f, err := readFamily(r.fsys, name, templateExt)
	if err != nil {
		return nil, err
	}
	if !f.resolves(r.defaultLocale) {
		if len(f.files) == 0 {
			return nil, fmt.Errorf("%w: %q", ErrTemplateNotFound, name)
		}
		return nil, fmt.Errorf("%w: %q has no file for the default locale %s (%s) and no %s (it has %s)",
			ErrTemplateNotFound, name, r.defaultLocale, variantName(name, templateExt, r.defaultLocale), name,
			strings.Join(f.locales(), ", "))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cached, ok := r.families[name]; ok {
		return cached, nil
	}
	r.families[name] = f
	return f, nil
}

// Exists reports whether name is a valid template name, under a channel directory (not the name
// of a locale file), with a file for every recipient: a bare file or one of the default
// locale. It does not parse the files; Validate does.
func (r *Renderer) Exists(name string) bool {
	if _, err := checkName(name); err != nil {
		return false
	}
	_, err := r.family(name)
	return err == nil
}

// VariantOf tells whether name is the name of a locale file ("email/welcome.en.md") rather than
// of a template, and if so returns the template's name ("email/welcome.md") and the file's
// locale ("en").
func (r *Renderer) VariantOf(name string) (template, locale string, ok bool) {
	template, _, locale, ok = splitVariant(name, templateExt)
	return template, locale, ok
}

// Locales returns the locales the named template has a file of, sorted (not counting its bare
// file), or nil when it has none or no such template exists.
func (r *Renderer) Locales(name string) []string {
	if _, err := checkName(name); err != nil {
		return nil
	}
	f, err := r.family(name)
	if err != nil || len(f.files) == 0 {
		return nil
	}
	return f.locales()
}

// Validate parses every file of the named template (its bare file and each locale's) without
// rendering them, so that a broken file is refused at start and a posting naming an unknown
// template when it is created. It also refuses a template without a file for the default locale
// or a bare one (what a recipient of another language would get), and a locale file named in
// another form than the canonical one ("welcome.en_gb.md" for "welcome.en-GB.md"). The parsed
// templates are cached for Render. It returns the errors Render returns, joined, one per file.
func (r *Renderer) Validate(name string) error {
	channel, err := checkName(name)
	if err != nil {
		return err
	}
	f, err := readFamily(r.fsys, name, templateExt)
	if err != nil {
		return err
	}
	var errs []error
	for _, file := range f.paths() {
		if _, err := r.load(file, channel); err != nil {
			errs = append(errs, err)
		}
	}
	for _, file := range f.misnamed {
		errs = append(errs, misnamedError(file, templateExt))
	}
	if _, err := r.family(name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// misnamedError reports a locale file whose locale is not written in its canonical form.
func misnamedError(file, ext string) error {
	base, suffix, locale, _ := splitVariant(file, ext)
	return &TemplateError{Name: file, Err: fmt.Errorf("locale %q is written %q in file names: rename it %s",
		suffix, locale, variantName(base, ext, locale))}
}

// Names returns the name of every template in the file system (the names postings use, without
// locales: "email/welcome.md" for "email/welcome.ru.md" and "email/welcome.en.md"), sorted. It
// does not check that they parse or have a file for every recipient; Validate does.
func (r *Renderer) Names() []string {
	var names []string
	for _, dir := range []string{channelEmail, channelSMS, channelInApp, channelWebhook} {
		// Unreadable directories are skipped: they hold no template Render could load.
		_ = fs.WalkDir(r.fsys, dir, func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if base, _, _, ok := splitVariant(name, templateExt); ok {
				name = base
			}
			if _, err := checkName(name); err == nil {
				names = append(names, name)
			}
			return nil
		})
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// load returns the parsed file from the cache, parsing it on first use. Failures are not
// cached, so that names from callers cannot grow the cache.
func (r *Renderer) load(name, channel string) (*compiled, error) {
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
	if info, err := fs.Stat(r.fsys, name); err != nil || info.IsDir() {
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

	if channel != channelSMS && !src.hasSubject {
		return nil, &TemplateError{Name: name, Line: 1, Err: fmt.Errorf("%s template has no subject in its front matter", channel)}
	}

	c = &compiled{channel: channel, bodyOffset: src.bodyOffset}
	c.html, c.text, err = r.compile(name, src.body, src.bodyOffset)
	if err != nil {
		return nil, err
	}
	if channel != channelSMS {
		c.subjectOffset = src.subjectOffset
		if _, c.subject, err = r.compile(name, src.subject, src.subjectOffset); err != nil {
			return nil, err
		}
	}
	if channel != channelEmail {
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
	case channelEmail, channelSMS, channelInApp, channelWebhook:
		return dir, nil
	default:
		return "", fmt.Errorf("%w: %q", ErrUnknownChannel, name)
	}
}

// checkName checks a template name as channelOf does, and that it is not the name of a locale
// file (an error wrapping ErrTemplateNotFound and ErrLocaleVariant).
func checkName(name string) (string, error) {
	channel, err := channelOf(name)
	if err != nil {
		return "", err
	}
	if base, _, locale, ok := splitVariant(name, templateExt); ok {
		return "", fmt.Errorf("%w: %w: %q is the %s file of %q; name the template, the recipient's locale picks its file",
			ErrTemplateNotFound, ErrLocaleVariant, name, locale, base)
	}
	return channel, nil
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
