package templating_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/templating"
)

const testLayout = `<!DOCTYPE html>
<html lang="ru"><head><title>{{ subject }}</title></head>
<body>{{ content|safe }}<footer>{{ user.email }}</footer></body></html>
`

// newRenderer returns a Renderer of the given files plus a small layout.
func newRenderer(t *testing.T, files map[string]string) (*templating.Renderer, fstest.MapFS) {
	t.Helper()
	fsys := fstest.MapFS{templating.LayoutName: {Data: []byte(testLayout)}}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	r, err := templating.New(fsys, "ru")
	require.NoError(t, err)
	return r, fsys
}

// requireTemplateError asserts that err is a *TemplateError for name at line.
func requireTemplateError(t *testing.T, err error, name string, line int) *templating.TemplateError {
	t.Helper()
	require.Error(t, err)
	var te *templating.TemplateError
	require.ErrorAs(t, err, &te, "error %q", err)
	assert.Equal(t, name, te.Name)
	assert.Equal(t, line, te.Line, "error %q", err)
	assert.Contains(t, err.Error(), fmt.Sprintf("%s:%d: ", name, line))
	return te
}

func TestEmailRendersSubjectTextAndHTML(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md": "---\nsubject: \"Привет, {{ user.first_name }}\"\n---\n# Здравствуйте, {{ user.first_name }}!\n\nВаш код: **{{ code }}**.\n",
	})

	out, err := r.Render("email/hello.md", map[string]any{
		"user": map[string]any{"first_name": "Анна", "email": "anna@example.com"},
		"code": "42",
	})

	require.NoError(t, err)
	assert.Equal(t, "Привет, Анна", out.Subject)
	assert.Equal(t, "# Здравствуйте, Анна!\n\nВаш код: **42**.", out.Text)
	assert.Contains(t, out.HTML, "<h1>Здравствуйте, Анна!</h1>")
	assert.Contains(t, out.HTML, "<p>Ваш код: <strong>42</strong>.</p>")
	assert.Contains(t, out.HTML, "<title>Привет, Анна</title>", "the layout receives the subject")
	assert.Contains(t, out.HTML, "<footer>anna@example.com</footer>", "the layout receives the context")
}

func TestSMSRendersOneLineOfTextOnly(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		// No front matter at all: SMS templates need none.
		"sms/code.md": "\n  Код: {{ secret_code }}.\n\n  Никому <не> сообщайте его.  \n\n",
	})

	out, err := r.Render("sms/code.md", map[string]any{"secret_code": "1234"})

	require.NoError(t, err)
	assert.Equal(t, templating.Rendered{Text: "Код: 1234. Никому <не> сообщайте его.", Locale: "ru", File: "sms/code.md"}, out)
}

func TestSMSIgnoresSubject(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{"sms/code.md": "---\nsubject: \"Код\"\n---\nКод: {{ secret_code }}"})

	out, err := r.Render("sms/code.md", map[string]any{"secret_code": 7})

	require.NoError(t, err)
	assert.Equal(t, templating.Rendered{Text: "Код: 7", Locale: "ru", File: "sms/code.md"}, out)
}

func TestInAppRendersATitleAndMarkdownWithoutHTML(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"inapp/hello.md": "---\nsubject: \"Привет, {{ user.first_name }}\"\n---\nВаш код: **{{ code }}** <b>.\n\n\n",
	})

	out, err := r.Render("inapp/hello.md", map[string]any{"user": map[string]any{"first_name": "Анна"}, "code": "42"})

	require.NoError(t, err)
	assert.Equal(t, templating.Rendered{Subject: "Привет, Анна", Text: "Ваш код: **42** <b>.", Locale: "ru", File: "inapp/hello.md"}, out)
	assert.Contains(t, r.Names(), "inapp/hello.md")
}

func TestInAppNeedsATitle(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{"inapp/hello.md": "Привет"})

	_, err := r.Render("inapp/hello.md", nil)

	requireTemplateError(t, err, "inapp/hello.md", 1)
	assert.ErrorContains(t, err, "inapp template has no subject")
}

func TestTemplateOutsideChannelDirectoriesIsRefused(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"push/hello.md": "Привет",
		"hello.md":      "Привет",
	})

	for _, name := range []string{"push/hello.md", "hello.md"} {
		_, err := r.Render(name, nil)
		require.ErrorIs(t, err, templating.ErrUnknownChannel, name)
		require.ErrorIs(t, r.Validate(name), templating.ErrUnknownChannel, name)
		assert.False(t, r.Exists(name), name)
	}
}

func TestSubjectIsVerbatimOnOneLine(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md": "---\nsubject: \"Привет, {{ user.first_name }} & {{ tag }}\"\n---\nТекст\n",
	})

	out, err := r.Render("email/hello.md", map[string]any{
		"user": map[string]any{"first_name": "Иван\r\nBcc: victim@example.com\n"},
		"tag":  "<b>",
	})

	require.NoError(t, err)
	assert.Equal(t, "Привет, Иван Bcc: victim@example.com & <b>", out.Subject)
	assert.Contains(t, out.HTML, "<title>Привет, Иван Bcc: victim@example.com &amp; &lt;b&gt;</title>")
}

func TestTextPartPrintsValuesVerbatim(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md": "---\nsubject: s\n---\nПривет, {{ user.first_name }}! {{ note }}\n",
	})

	out, err := r.Render("email/hello.md", map[string]any{
		"user": map[string]any{"first_name": "<b>Иван</b>"},
		"note": `"Tom & Jerry"`,
	})

	require.NoError(t, err)
	assert.Equal(t, `Привет, <b>Иван</b>! "Tom & Jerry"`, out.Text)
}

func TestHTMLPartEscapesValues(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md": "---\nsubject: s\n---\nПривет, {{ user.first_name }}!\n\n[Ссылка]({{ link }})\n",
	})

	out, err := r.Render("email/hello.md", map[string]any{
		"user": map[string]any{"first_name": "<script>alert(1)</script>"},
		"link": `https://example.com/?a=1&b="2"`,
	})

	require.NoError(t, err)
	assert.Contains(t, out.HTML, "Привет, &lt;script&gt;alert(1)&lt;/script&gt;!")
	assert.NotContains(t, out.HTML, "<script")
	assert.Contains(t, out.HTML, `<a href="https://example.com/?a=1&amp;b=%222%22">Ссылка</a>`)
}

func TestHTMLPartOmitsRawHTMLAndDangerousLinks(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md": "---\nsubject: s\n---\n<div onclick=\"x()\">Привет</div>\n\n[Клик](javascript:alert(1))\n\n[Ещё]({{ link }})\n",
	})

	out, err := r.Render("email/hello.md", map[string]any{"link": "javascript:alert(2)"})

	require.NoError(t, err)
	assert.NotContains(t, out.HTML, "<div onclick")
	assert.NotContains(t, out.HTML, "javascript:")
	assert.Contains(t, out.HTML, "<!-- raw HTML omitted -->")
}

func TestValuesCannotAddLinksOrImagesToTheHTMLPart(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md": "---\nsubject: \"{{ user.first_name }}\"\n---\nПривет, {{ user.first_name }}!\n\n" +
			"{% for m in movies %}[{{ m.title }}]({{ m.url }})\n{% endfor %}",
	})
	name := `[Выигрыш](https://evil.example) ![x](https://evil.example/p.png) a\b`
	data := map[string]any{
		"user":   map[string]any{"first_name": name},
		"movies": []any{map[string]any{"title": "Брат [18+]", "url": "https://cinema.example/brat"}},
	}

	out, err := r.Render("email/hello.md", data)

	require.NoError(t, err)
	assert.NotContains(t, out.HTML, "evil.example\"", "no link or image from a value")
	assert.NotContains(t, out.HTML, "<img")
	assert.Contains(t, out.HTML, `Привет, [Выигрыш](https://evil.example) ![x](https://evil.example/p.png) a\b!`, "shown as typed")
	assert.Contains(t, out.HTML, `<a href="https://cinema.example/brat">Брат [18+]</a>`, "the template's own link works, brackets in its text")
	assert.Contains(t, out.Text, "Привет, "+name+"!", "the text part is verbatim")
	assert.Equal(t, name, out.Subject)
	assert.Equal(t, name, data["user"].(map[string]any)["first_name"], "the data is not modified")
}

func TestBannedTagsFailToParse(t *testing.T) {
	t.Parallel()
	sources := map[string]string{
		"ssi":        `{% ssi "/etc/passwd" %}`,
		"ssi parsed": `{% ssi "/etc/passwd" parsed %}`,
		"include":    `{% include "email/other.md" %}`,
		"import":     `{% import "email/other.md" hello %}`,
		"extends":    `{% extends "layouts/email.html" %}`,
		"cycle":      `{% for x in xs %}{% cycle "a" "b" %}{% endfor %}`,
		"ifchanged":  `{% for x in xs %}{% ifchanged x %}{{ x }}{% endifchanged %}{% endfor %}`,
	}
	for tag, body := range sources {
		t.Run(tag, func(t *testing.T) {
			t.Parallel()
			r, _ := newRenderer(t, map[string]string{
				"email/banned.md": "---\nsubject: s\n---\nПривет\n" + body + "\n",
				"email/other.md":  "---\nsubject: s\n---\nДругой",
			})

			err := r.Validate("email/banned.md")

			te := requireTemplateError(t, err, "email/banned.md", 5)
			assert.Contains(t, te.Err.Error(), "not allowed")
			_, err = r.Render("email/banned.md", nil)
			require.Error(t, err)
		})
	}
}

func TestTemplateNamesAreValidated(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md":  "---\nsubject: s\n---\nПривет",
		"email/hello.txt": "---\nsubject: s\n---\nПривет",
		"email/dir.md/x":  "not a template",
	})

	for _, name := range []string{
		"",
		".",
		"../email/hello.md",
		"email/../email/hello.md",
		"email/./hello.md",
		"/email/hello.md",
		"email//hello.md",
		`email\hello.md`,
		"email/hello.txt",
		"email/hello",
		"email/missing.md",
		"sms/missing.md",
		"email/dir.md",
	} {
		_, err := r.Render(name, nil)
		require.ErrorIs(t, err, templating.ErrTemplateNotFound, "name %q", name)
		require.ErrorIs(t, r.Validate(name), templating.ErrTemplateNotFound, "name %q", name)
		assert.False(t, r.Exists(name), "name %q", name)
	}
	assert.True(t, r.Exists("email/hello.md"))
	require.NoError(t, r.Validate("email/hello.md"))
}

func TestBrokenTemplateReportsFileAndLine(t *testing.T) {
	t.Parallel()
	const frontMatter = "---\n# a note\nsubject: \"Тема\"\n---\n" // 4 lines
	tests := []struct {
		name, text string
		line       int
		message    string
	}{
		{"for without a sequence", frontMatter + "# Заголовок\n\nТекст\n{% for x in %}\n{% endfor %}\n", 8, "near \"in\""},
		{"unclosed if", frontMatter + "Текст\n\n{% if user %}\nПривет\n", 7, "endif"},
		// pongo2 reports an unclosed block at the last tag or variable of the file.
		{"unclosed for", frontMatter + "{% for m in movies %}\n{{ m.title }}\n\n", 6, "endfor"},
		{"unclosed variable", frontMatter + "Текст\n{{ user.first_name\nдальше\n", 6, "Newline not allowed"},
		{"unknown filter on the first body line", frontMatter + "{{ user|nosuchfilter }}\n", 5, "nosuchfilter"},
		{"stray end tag", frontMatter + "Текст\n{% endautoescape %}\n", 6, "endautoescape"},
		{"broken subject", "---\n\nsubject: \"{% if x %}Тема\"\n---\nТекст\n", 3, "endif"},
		{"broken block subject", "---\nsubject: |\n  {{ x|nosuchfilter }}\n---\nТекст\n", 3, "nosuchfilter"},
		{"bad yaml", "---\nsubject: \"Тема\"\nfoo: bar: baz\n---\nТекст\n", 3, "front matter: mapping values are not allowed"},
		{"subject not a string", "---\nsubject: [a, b]\n---\nТекст\n", 2, "subject must be a string"},
		{"unclosed front matter", "---\nsubject: \"Тема\"\nТекст\n", 1, "not closed"},
		{"no subject", "---\nfoo: bar\n---\nТекст\n", 1, "no subject"},
		{"no front matter", "Текст\n", 1, "no subject"},
		{"windows line endings", "---\r\nsubject: s\r\n---\r\nТекст\r\n\r\n{% for x in %}\r\n", 6, "near \"in\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := newRenderer(t, map[string]string{"email/broken.md": tt.text})

			err := r.Validate("email/broken.md")

			te := requireTemplateError(t, err, "email/broken.md", tt.line)
			assert.Contains(t, te.Err.Error(), tt.message)
			_, renderErr := r.Render("email/broken.md", nil)
			assert.Equal(t, err.Error(), renderErr.Error())
		})
	}
}

func TestBrokenSMSWithoutFrontMatterReportsLine(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{"sms/broken.md": "Код: {{ secret_code }}\n{% if secret_code %}\n"})

	requireTemplateError(t, r.Validate("sms/broken.md"), "sms/broken.md", 2)
}

func TestRenderErrorReportsFileAndLine(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/movies.md": "---\nsubject: s\n---\nФильмы:\n{% for m in movies %}\n- {{ m.title }}\n{% endfor %}\n",
	})

	_, err := r.Render("email/movies.md", map[string]any{"movies": []any{"не объект"}})

	requireTemplateError(t, err, "email/movies.md", 6)
}

func TestMissingValuesRenderEmpty(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/hello.md": "---\nsubject: \"[{{ user.first_name }}]\"\n---\n" +
			"Привет, {{ user.first_name|default:user.username }}!\n" +
			"[{{ missing }}][{{ missing.deep.field }}][{{ missing|upper }}][{{ movies.0.title }}]\n" +
			"{% for m in movies %}{{ m.title }}{% empty %}пусто{% endfor %}\n" +
			"{% for m in partial %}<{{ m.title }}|{{ m.url }}|{{ m.year }}>{% endfor %}\n" +
			"{% if series.episode.number > 2 %}да{% else %}нет{% endif %}\n",
	})

	for _, data := range []map[string]any{
		nil,
		{},
		{"user": nil, "movies": nil, "partial": []any{map[string]any{}, nil}},
		{"user": map[string]any{}, "partial": []any{map[string]any{"title": "Брат"}}},
	} {
		out, err := r.Render("email/hello.md", data)

		require.NoError(t, err, "data %v", data)
		assert.Equal(t, "[]", out.Subject)
		assert.Contains(t, out.Text, "Привет, !\n[][][][]\nпусто\n")
		assert.Contains(t, out.Text, "нет")
		assert.NotEmpty(t, out.HTML)
	}
}

func TestRussianTextRenders(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/ru.md": "\uFEFF---\nsubject: \"Новинки: {{ movie.title|upper }}\"\n---\n# Ёжик в тумане\n\n«{{ movie.title }}», {{ movie.description|truncatechars:12 }}\n",
		"sms/ru.md":   "Здравствуйте, {{ name|title }}!",
	})
	data := map[string]any{
		"movie": map[string]any{"title": "Сталкер", "description": "Фильм Андрея Тарковского"},
		"name":  "юрий",
	}

	email, err := r.Render("email/ru.md", data)
	require.NoError(t, err)
	sms, err := r.Render("sms/ru.md", data)
	require.NoError(t, err)

	assert.Equal(t, "Новинки: СТАЛКЕР", email.Subject)
	assert.Equal(t, "# Ёжик в тумане\n\n«Сталкер», Фильм Анд...", email.Text)
	assert.Contains(t, email.HTML, "<h1>Ёжик в тумане</h1>")
	assert.Contains(t, email.HTML, "<p>«Сталкер», Фильм Анд...</p>")
	assert.Equal(t, "Здравствуйте, Юрий!", sms.Text)
}

func TestNonUTF8TemplateIsRefused(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{"sms/latin1.md": "\xcf\xf0\xe8\xe2\xe5\xf2"})

	err := r.Validate("sms/latin1.md")

	var te *templating.TemplateError
	require.ErrorAs(t, err, &te)
	assert.Contains(t, err.Error(), "UTF-8")
}

func TestJSONNumbersRenderAsWritten(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"sms/numbers.md": "{{ total }} {{ stats.0.total }} {{ year }} {{ rating }} {{ big }} {% if total > 6 %}много{% endif %}",
	})
	var data map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"total": 7, "stats": [{"total": 12}], "rating": 8.5, "big": 12345678901}`), &data))
	data["year"] = json.Number("1997")

	out, err := r.Render("sms/numbers.md", data)

	require.NoError(t, err)
	// pongo2 prints any float with six decimals; only whole numbers are normalized.
	assert.Equal(t, "7 12 1997 8.500000 12345678901 много", out.Text)
	assert.Equal(t, 7.0, data["total"], "the caller's data is left as it was")
	assert.Equal(t, 12.0, data["stats"].([]any)[0].(map[string]any)["total"])
}

func TestContextKeysPongoRefusesAreIgnored(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{"sms/code.md": "Код: {{ secret_code }}"})

	out, err := r.Render("sms/code.md", map[string]any{"secret_code": "1234", "series-url": "x", "": 1})

	require.NoError(t, err)
	assert.Equal(t, "Код: 1234", out.Text)
}

func TestTextPartTrimsBlankLines(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"email/list.md": "---\nsubject: s\n---\n\n\n# Фильмы\n{% for m in movies %}\n\n- {{ m }}   \n{% endfor %}\n\n\nКонец\n\n\n",
	})

	out, err := r.Render("email/list.md", map[string]any{"movies": []string{"Брат", "Сталкер"}})

	require.NoError(t, err)
	assert.Equal(t, "# Фильмы\n\n- Брат\n\n- Сталкер\n\nКонец", out.Text)
}

func TestParsedTemplatesAreCached(t *testing.T) {
	t.Parallel()
	r, fsys := newRenderer(t, map[string]string{"sms/code.md": "Код: {{ secret_code }}"})
	require.NoError(t, r.Validate("sms/code.md"))
	require.ErrorIs(t, r.Validate("sms/later.md"), templating.ErrTemplateNotFound)

	fsys["sms/code.md"] = &fstest.MapFile{Data: []byte("Изменено")}
	fsys["sms/later.md"] = &fstest.MapFile{Data: []byte("Появился")}

	out, err := r.Render("sms/code.md", map[string]any{"secret_code": "1"})
	require.NoError(t, err)
	assert.Equal(t, "Код: 1", out.Text, "the parsed template is reused")
	out, err = r.Render("sms/later.md", nil)
	require.NoError(t, err, "a failed lookup is not cached")
	assert.Equal(t, "Появился", out.Text)
}

func TestParallelRendersAreSafe(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	for i := range 8 {
		files[fmt.Sprintf("email/t%d.md", i)] = fmt.Sprintf("---\nsubject: \"Тема %d для {{ user.first_name }}\"\n---\n"+
			"# Привет, {{ user.first_name }}!\n{%% for m in movies %%}\n- {{ forloop.Counter }}. {{ m.title|upper }}\n{%% endfor %%}\n", i)
		files[fmt.Sprintf("sms/t%d.md", i)] = fmt.Sprintf("Код %d: {{ secret_code }}", i)
	}
	r, _ := newRenderer(t, files)

	var wg sync.WaitGroup
	errs := make(chan error, 64*16)
	for g := range 64 {
		wg.Go(func() {
			for i := range 16 {
				n := (g + i) % 8
				name := fmt.Sprintf("user%d", g)
				email, err := r.Render(fmt.Sprintf("email/t%d.md", n), map[string]any{
					"user":   map[string]any{"first_name": name},
					"movies": []any{map[string]any{"title": "брат"}, map[string]any{"title": "сталкер"}},
				})
				if err == nil && email.Subject != fmt.Sprintf("Тема %d для %s", n, name) {
					err = fmt.Errorf("subject %q", email.Subject)
				}
				if err == nil && email.Text != fmt.Sprintf("# Привет, %s!\n\n- 1. БРАТ\n\n- 2. СТАЛКЕР", name) {
					err = fmt.Errorf("text %q", email.Text)
				}
				sms, smsErr := r.Render(fmt.Sprintf("sms/t%d.md", n), map[string]any{"secret_code": g})
				if smsErr == nil && sms.Text != fmt.Sprintf("Код %d: %d", n, g) {
					smsErr = fmt.Errorf("sms %q", sms.Text)
				}
				if err = errors.Join(err, smsErr, r.Validate("email/t0.md")); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNamesListsEveryTemplate(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"sms/code.md":            "Код",
		"email/welcome.md":       "---\nsubject: s\n---\n",
		"email/promo/october.md": "---\nsubject: s\n---\n",
		"email/notes.txt":        "not a template",
		"push/hello.md":          "unknown channel",
		"README.md":              "not a template",
	})

	assert.Equal(t, []string{"email/promo/october.md", "email/welcome.md", "sms/code.md"}, r.Names())
}

func TestNewNeedsAValidLayout(t *testing.T) {
	t.Parallel()
	_, err := templating.New(fstest.MapFS{"sms/code.md": {Data: []byte("Код")}}, "ru")
	require.ErrorIs(t, err, errNotExist())

	_, err = templating.New(fstest.MapFS{templating.LayoutName: {Data: []byte("<html>\n{% if content %}\n</html>")}}, "ru")
	requireTemplateError(t, err, templating.LayoutName, 2)

	_, err = templating.New(nil, "ru")
	require.Error(t, err)
}

func TestTemplateErrorFormats(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")

	assert.Equal(t, "email/a.md:3: boom", (&templating.TemplateError{Name: "email/a.md", Line: 3, Err: cause}).Error())
	assert.Equal(t, "email/a.md: boom", (&templating.TemplateError{Name: "email/a.md", Err: cause}).Error())
	assert.ErrorIs(t, &templating.TemplateError{Name: "email/a.md", Err: cause}, cause)
}

func TestWebhookRendersATitleAndMarkdownWithoutHTML(t *testing.T) {
	t.Parallel()
	r, _ := newRenderer(t, map[string]string{
		"webhook/hello.md": "---\nsubject: \"Привет, {{ user.first_name }}\"\n---\nВаш код: **{{ code }}** <b>.\n\n\n",
		"webhook/bare.md":  "Привет",
	})

	out, err := r.Render("webhook/hello.md", map[string]any{"user": map[string]any{"first_name": "Анна"}, "code": "42"})

	require.NoError(t, err)
	assert.Equal(t, templating.Rendered{Subject: "Привет, Анна", Text: "Ваш код: **42** <b>.", Locale: "ru", File: "webhook/hello.md"}, out)
	assert.Contains(t, r.Names(), "webhook/hello.md")
	_, err = r.Render("webhook/bare.md", nil)
	requireTemplateError(t, err, "webhook/bare.md", 1)
	assert.ErrorContains(t, err, "webhook template has no subject")
}
