package templating_test

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/templating"
)

func TestParseLocaleNormalizesBCP47Tags(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ru":                 "ru",
		"en-GB":              "en-GB",
		"en_GB":              "en-GB",
		"EN-gb":              "en-GB",
		"en_gb":              "en-GB",
		" ru ":               "ru",
		"ru_RU.UTF-8":        "ru-RU",
		"de_DE@euro":         "de-DE",
		"zh-hant-tw":         "zh-Hant-TW",
		"sr_latn":            "sr-Latn",
		"es-419":             "es-419",
		"en-US-u-ca-gregory": "en-US",
		"en-GB-oxendict":     "en-GB",
		"en-x-custom":        "en",
		"iw":                 "he",
		"deu":                "de",
	} {
		got, err := templating.ParseLocale(in)
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got, "%q", in)
	}
}

func TestParseLocaleRefusesWhatIsNoLanguageTag(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "   ", ".UTF-8", "C", "POSIX", "english", "Russian", "und", "und-GB", "x-private", "zz",
		"en--GB", "en-", "-en", "ru RU", "ru/RU", "12", "en-GB\x00", "\xff\xfe", strings.Repeat("a", 65),
		"en-" + strings.Repeat("a", 70),
	} {
		_, err := templating.ParseLocale(in)
		assert.Error(t, err, "%q", in)
	}
}

// localeFiles is a template with a bare file and files of three locales, each saying which it is.
var localeFiles = map[string]string{
	"email/hello.md":       "---\nsubject: bare\n---\nbare {{ user.first_name }}",
	"email/hello.ru.md":    "---\nsubject: ru\n---\nru {{ user.first_name }}",
	"email/hello.en.md":    "---\nsubject: en\n---\nen {{ user.first_name }}",
	"email/hello.en-GB.md": "---\nsubject: en-GB\n---\nen-GB {{ user.first_name }}",
	"email/only_bare.md":   "---\nsubject: bare\n---\nbare {{ user.first_name }}",
	"email/bare_en.md":     "---\nsubject: bare\n---\nbare {{ user.first_name }}",
	"email/bare_en.en.md":  "---\nsubject: en\n---\nen {{ user.first_name }}",
	"sms/code.md":          "bare {{ secret_code }}",
	"sms/code.en.md":       "en {{ secret_code }}",
}

func TestTheLocaleChainIsFullTagThenLanguageThenDefaultThenBare(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, localeFiles)
	tests := []struct {
		name, locale     string
		subject, locale2 string // the file's subject and the locale used
		malformed        bool
	}{
		{"email/hello.md", "en-GB", "en-GB", "en-GB", false},
		{"email/hello.md", "en_gb", "en-GB", "en-GB", false},
		{"email/hello.md", "EN-GB", "en-GB", "en-GB", false},
		{"email/hello.md", "en-US", "en", "en", false},
		{"email/hello.md", "en", "en", "en", false},
		{"email/hello.md", "ru_RU.UTF-8", "ru", "ru", false},
		{"email/hello.md", "de-AT", "ru", "ru", false},
		{"email/hello.md", "", "ru", "ru", false},
		{"email/hello.md", "klingon!", "ru", "ru", true},
		{"email/hello.md", "und", "ru", "ru", true},
		{"email/only_bare.md", "en-GB", "bare", "ru", false},
		{"email/only_bare.md", "", "bare", "ru", false},
		{"email/bare_en.md", "en-AU", "en", "en", false},
		{"email/bare_en.md", "fr", "bare", "ru", false},
		{"email/bare_en.md", "", "bare", "ru", false},
	}
	for _, tt := range tests {
		out, err := r.RenderLocale(tt.name, tt.locale, map[string]any{"user": map[string]any{"first_name": "Анна"}})

		require.NoError(t, err, "%s for %q", tt.name, tt.locale)
		assert.Equal(t, tt.subject, out.Subject, "%s for %q", tt.name, tt.locale)
		assert.Equal(t, tt.subject+" Анна", out.Text, "%s for %q", tt.name, tt.locale)
		assert.Equal(t, tt.locale2, out.Locale, "%s for %q", tt.name, tt.locale)
		assert.Equal(t, tt.malformed, out.MalformedLocale, "%s for %q", tt.name, tt.locale)
		wantFile := strings.TrimSuffix(tt.name, ".md") + "." + tt.subject + ".md"
		if tt.subject == "bare" {
			wantFile = tt.name
		}
		assert.Equal(t, wantFile, out.File, "%s for %q", tt.name, tt.locale)
	}

	sms, err := r.RenderLocale("sms/code.md", "en-IE", map[string]any{"secret_code": 42})
	require.NoError(t, err)
	assert.Equal(t, templating.Rendered{Text: "en 42", Locale: "en", File: "sms/code.en.md"}, sms)
	sms, err = r.Render("sms/code.md", map[string]any{"secret_code": 42})
	require.NoError(t, err)
	assert.Equal(t, templating.Rendered{Text: "bare 42", Locale: "ru", File: "sms/code.md"}, sms)
}

func TestTheDefaultLocaleFallsBackToItsLanguage(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		templating.LayoutName: {Data: []byte(testLayout)},
		"sms/code.ru.md":      {Data: []byte("ru")},
		"sms/code.en.md":      {Data: []byte("en")},
	}
	r, err := templating.New(fsys, "ru_RU")
	require.NoError(t, err)
	assert.Equal(t, "ru-RU", r.DefaultLocale())

	out, err := r.RenderLocale("sms/code.md", "fr", nil)

	require.NoError(t, err)
	assert.Equal(t, "ru", out.Text)
	assert.Equal(t, "ru", out.Locale)
	assert.True(t, r.Exists("sms/code.md"))
}

// layoutOf is a layout whose files say which they are, with the locale given.
func layoutOf(which string) string {
	return `<!DOCTYPE html>
<html lang="{{ locale }}"><head><title>{{ subject }}</title></head>
<body>{{ content|safe }}<footer>` + which + `</footer></body></html>
`
}

func TestTheLayoutFollowsTheLocaleTheTemplateWasRenderedIn(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		templating.LayoutName:      {Data: []byte(layoutOf("bare layout"))},
		"layouts/email.en.html":    {Data: []byte(layoutOf("en layout"))},
		"layouts/email.de-AT.html": {Data: []byte(layoutOf("de-AT layout"))},
	}
	for name, text := range localeFiles {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	fsys["email/hello.de.md"] = &fstest.MapFile{Data: []byte("---\nsubject: de\n---\nde")}
	r, err := templating.New(fsys, "ru")
	require.NoError(t, err)

	for _, tt := range []struct{ locale, lang, footer string }{
		{"en-GB", "en-GB", "en layout"}, // the en-GB file, the en layout
		{"en-US", "en", "en layout"},    // the en file
		{"ru", "ru", "bare layout"},     // no ru layout
		{"de-AT", "de", "bare layout"},  // the de file: the de-AT layout is not its language's
		{"nonsense!", "ru", "bare layout"},
	} {
		out, err := r.RenderLocale("email/hello.md", tt.locale, nil)

		require.NoError(t, err, tt.locale)
		assert.Contains(t, out.HTML, `<html lang="`+tt.lang+`">`, tt.locale)
		assert.Contains(t, out.HTML, "<footer>"+tt.footer+"</footer>", tt.locale)
	}
}

func TestALayoutForTheDefaultLocaleStandsInForTheBareOne(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"layouts/email.ru.html": {Data: []byte(layoutOf("ru layout"))},
		"layouts/email.en.html": {Data: []byte(layoutOf("en layout"))},
		"email/hello.md":        {Data: []byte("---\nsubject: s\n---\nbare")},
	}
	r, err := templating.New(fsys, "ru")
	require.NoError(t, err)

	out, err := r.RenderLocale("email/hello.md", "fr", nil)

	require.NoError(t, err)
	assert.Contains(t, out.HTML, `<html lang="ru">`)
	assert.Contains(t, out.HTML, "<footer>ru layout</footer>")

	_, err = templating.New(fsys, "de")
	require.ErrorIs(t, err, fs.ErrNotExist, "no layout serves de")
	assert.Contains(t, err.Error(), "layouts/email.de.html")
}

func TestEveryLayoutFileIsCheckedAtStart(t *testing.T) {
	t.Parallel()
	_, err := templating.New(fstest.MapFS{
		templating.LayoutName:   {Data: []byte(testLayout)},
		"layouts/email.en.html": {Data: []byte("<html>\n<body>\n{% if content %}\n</html>")},
	}, "ru")
	requireTemplateError(t, err, "layouts/email.en.html", 3)

	_, err = templating.New(fstest.MapFS{
		templating.LayoutName:   {Data: []byte(testLayout)},
		"layouts/email.EN.html": {Data: []byte(testLayout)},
	}, "ru")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "layouts/email.en.html", "names the right name")

	_, err = templating.New(fstest.MapFS{templating.LayoutName: {Data: []byte(testLayout)}}, "not a locale")
	require.Error(t, err)
	_, err = templating.New(fstest.MapFS{templating.LayoutName: {Data: []byte(testLayout)}}, "")
	require.Error(t, err)
}

func TestABrokenLocaleFileFailsValidationNamingItsFileAndLine(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.ru.md": "---\nsubject: s\n---\nПривет\n",
		"email/hello.en.md": "---\nsubject: s\n---\nHello\n{% if user %}\n",
		"email/hello.de.md": "---\nsubject: \"{{ x|nosuchfilter }}\"\n---\nHallo\n",
	})

	err := r.Validate("email/hello.md")

	require.Error(t, err)
	assert.Contains(t, err.Error(), "email/hello.en.md:5: ")
	assert.Contains(t, err.Error(), "email/hello.de.md:2: ")
	assert.NotContains(t, err.Error(), "hello.ru.md")
	var te *templating.TemplateError
	require.ErrorAs(t, err, &te)

	out, err := r.RenderLocale("email/hello.md", "ru", nil)
	require.NoError(t, err, "the sound file still renders")
	assert.Equal(t, "Привет", out.Text)
	_, err = r.RenderLocale("email/hello.md", "en-GB", nil)
	requireTemplateError(t, err, "email/hello.en.md", 5)
}

func TestATemplateWithoutAFileForTheDefaultLocaleIsRefused(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/promo.en.md": "---\nsubject: s\n---\nHello",
		"email/promo.de.md": "---\nsubject: s\n---\nHallo",
	})

	assert.False(t, r.Exists("email/promo.md"), "a Russian recipient would get nothing")
	err := r.Validate("email/promo.md")
	require.ErrorIs(t, err, templating.ErrTemplateNotFound)
	assert.Contains(t, err.Error(), "email/promo.ru.md")
	assert.Contains(t, err.Error(), "de, en")
	_, err = r.RenderLocale("email/promo.md", "en", nil)
	require.ErrorIs(t, err, templating.ErrTemplateNotFound, "even for a recipient it has a file for")
	assert.Equal(t, []string{"email/promo.md"}, r.Names(), "listed, so that the start-up check finds it")
}

func TestALocaleFileNamedInAnotherFormIsReportedAndNotUsed(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md":       "---\nsubject: bare\n---\nbare",
		"email/hello.en_gb.md": "---\nsubject: en-GB\n---\nen-GB",
		"email/hello.RU.md":    "---\nsubject: RU\n---\nRU",
	})

	err := r.Validate("email/hello.md")

	require.Error(t, err)
	assert.Contains(t, err.Error(), "rename it email/hello.en-GB.md")
	assert.Contains(t, err.Error(), "rename it email/hello.ru.md")
	out, err := r.RenderLocale("email/hello.md", "en-GB", nil)
	require.NoError(t, err)
	assert.Equal(t, "bare", out.Subject)
	assert.Nil(t, r.Locales("email/hello.md"))
}

func TestTheNameOfALocaleFileIsNotATemplateName(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, localeFiles)

	for _, name := range []string{"email/hello.en.md", "email/hello.en-GB.md", "email/hello.EN.md", "sms/code.en.md"} {
		_, err := r.Render(name, nil)
		require.ErrorIs(t, err, templating.ErrTemplateNotFound, name)
		require.ErrorIs(t, err, templating.ErrLocaleVariant, name)
		assert.Contains(t, err.Error(), "name the template", name)
		_, err = r.RenderLocale(name, "en", nil)
		require.ErrorIs(t, err, templating.ErrLocaleVariant, name)
		require.ErrorIs(t, r.Validate(name), templating.ErrLocaleVariant, name)
		assert.False(t, r.Exists(name), name)
	}

	base, locale, ok := r.VariantOf("email/hello.en_GB.md")
	assert.True(t, ok)
	assert.Equal(t, "email/hello.md", base)
	assert.Equal(t, "en-GB", locale)
	for _, name := range []string{"email/hello.md", "email/digest.daily.md", "email/v1.2.md", "email/.en.md", "email/promo/october.md"} {
		_, _, ok := r.VariantOf(name)
		assert.False(t, ok, name)
	}
}

func TestNamesListTemplatesOnceWhateverTheirLocaleFiles(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, localeFiles)

	assert.Equal(t, []string{"email/bare_en.md", "email/hello.md", "email/only_bare.md", "sms/code.md"}, r.Names())
	assert.Equal(t, []string{"en", "en-GB", "ru"}, r.Locales("email/hello.md"))
	assert.Nil(t, r.Locales("email/only_bare.md"))
	assert.Nil(t, r.Locales("email/missing.md"))
	for _, name := range r.Names() {
		require.NoError(t, r.Validate(name), name)
		assert.True(t, r.Exists(name), name)
	}
}

// countingFS counts the calls that reach the file system.
type countingFS struct {
	fstest.MapFS
	calls atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.calls.Add(1)
	return c.MapFS.Open(name)
}

func (c *countingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	c.calls.Add(1)
	return c.MapFS.ReadDir(name)
}

func (c *countingFS) Stat(name string) (fs.FileInfo, error) {
	c.calls.Add(1)
	return c.MapFS.Stat(name)
}

func (c *countingFS) ReadFile(name string) ([]byte, error) {
	c.calls.Add(1)
	return c.MapFS.ReadFile(name)
}

func TestAMailingReadsEachFileOnceWhateverTheRecipientsLocales(t *testing.T) {
	t.Parallel()
	fsys := &countingFS{MapFS: fstest.MapFS{templating.LayoutName: {Data: []byte(testLayout)}}}
	for name, text := range localeFiles {
		fsys.MapFS[name] = &fstest.MapFile{Data: []byte(text)}
	}
	r, err := templating.New(fsys, "ru")
	require.NoError(t, err)
	locales := []string{"en-GB", "en_GB", "en-US", "ru", "ru_RU", "", "de", "bad locale", "EN"}
	for _, l := range locales {
		_, err := r.RenderLocale("email/hello.md", l, nil)
		require.NoError(t, err)
	}
	warm := fsys.calls.Load()

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				l := locales[(g+i)%len(locales)]
				out, err := r.RenderLocale("email/hello.md", l, map[string]any{"user": map[string]any{"first_name": "Анна"}})
				if err != nil || !strings.HasSuffix(out.Text, " Анна") {
					t.Errorf("%q: %q, %v", l, out.Text, err)
				}
			}
		})
	}
	wg.Wait()

	assert.Equal(t, warm, fsys.calls.Load(), "no file system call per recipient")
}

func TestALocaleCacheFullOfOddLocalesStillRendersWithoutReadingFiles(t *testing.T) {
	t.Parallel()
	fsys := &countingFS{MapFS: fstest.MapFS{templating.LayoutName: {Data: []byte(testLayout)}}}
	for name, text := range localeFiles {
		fsys.MapFS[name] = &fstest.MapFile{Data: []byte(text)}
	}
	r, err := templating.New(fsys, "ru")
	require.NoError(t, err)
	for _, l := range []string{"en", ""} {
		_, err = r.RenderLocale("email/hello.md", l, nil)
		require.NoError(t, err)
	}
	warm := fsys.calls.Load()

	for i := range 5000 { // more than the cache keeps
		locale := fmt.Sprintf("en-x-u%d", i)
		if i%2 == 1 {
			locale = fmt.Sprintf("garbage %d", i)
		}
		out, err := r.RenderLocale("email/hello.md", locale, nil)
		require.NoError(t, err)
		require.Equal(t, map[bool]string{false: "en", true: "ru"}[i%2 == 1], out.Locale, locale)
	}

	assert.Equal(t, warm, fsys.calls.Load())
}

func TestAFailedLocaleLookupIsNotCached(t *testing.T) {
	t.Parallel()
	r, fsys := newRenderer(t, map[string]string{"sms/later.en.md": "Later"})
	require.False(t, r.Exists("sms/later.md"), "no file for the default locale yet")

	fsys["sms/later.ru.md"] = &fstest.MapFile{Data: []byte("Позже")}

	out, err := r.RenderLocale("sms/later.md", "en", nil)
	require.NoError(t, err)
	assert.Equal(t, "Later", out.Text)
	require.True(t, r.Exists("sms/later.md"))
}

// Not parallel: allocations are counted for the whole process.
func TestARecipientsLocaleIsResolvedOnceNotAtEachRender(t *testing.T) {
	r, _ := newRenderer(t, localeFiles)
	data := map[string]any{"secret_code": 42}
	render := func(locale string) func() {
		return func() {
			if _, err := r.RenderLocale("sms/code.md", locale, data); err != nil {
				t.Fatal(err)
			}
		}
	}

	canonical := testing.AllocsPerRun(50, render("en"))
	asTheDirectoryWritesIt := testing.AllocsPerRun(50, render("EN_ie"))
	malformed := testing.AllocsPerRun(50, render("not a locale"))

	assert.Equal(t, canonical, asTheDirectoryWritesIt, "a tag to parse is parsed once")
	assert.LessOrEqual(t, malformed, canonical, "a malformed one too")
}
