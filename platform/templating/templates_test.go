package templating_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

// sampleUser is a recipient as the directory returns it, decoded from JSON like the real one.
func sampleUser(t *testing.T) map[string]any {
	t.Helper()
	var user map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{
		"id": "6f1c2a7e-9a4b-4c1d-8e2f-0b1a2c3d4e5f",
		"email": "anna@example.com",
		"phone": "+79990001122",
		"username": "anna_k",
		"first_name": "Анна",
		"locale": "ru_RU",
		"timezone": "Europe/Moscow",
		"is_active": true
	}`), &user))
	return user
}

// sampleEnglishUser is a recipient of the directory whose locale is British English.
func sampleEnglishUser(t *testing.T) map[string]any {
	t.Helper()
	user := sampleUser(t)
	user["email"], user["username"], user["first_name"] = "emma@example.com", "emma_w", "Emma"
	user["locale"], user["timezone"] = "en_GB", "Europe/London"
	return user
}

// decode returns a template context decoded from JSON, as postings store it.
func decode(t *testing.T, text string) map[string]any {
	t.Helper()
	var data map[string]any
	require.NoError(t, json.Unmarshal([]byte(text), &data))
	return data
}

func builtInRenderer(t *testing.T) *templating.Renderer {
	t.Helper()
	r, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	return r
}

// cyrillic matches any Cyrillic letter: an English message whose data is in English has none.
var cyrillic = regexp.MustCompile(`\p{Cyrillic}`)

// requireWellFormedHTML checks that every element of doc that is not void is closed, in order.
func requireWellFormedHTML(t *testing.T, doc string) {
	t.Helper()
	void := map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
		"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	var open []string
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "open elements: %v", open)
		switch el := tok.(type) {
		case xml.StartElement:
			if !void[el.Name.Local] {
				open = append(open, el.Name.Local)
			}
		case xml.EndElement:
			require.NotEmpty(t, open, "</%s> closes nothing", el.Name.Local)
			require.Equal(t, open[len(open)-1], el.Name.Local, "</%s> closes <%s>", el.Name.Local, open[len(open)-1])
			open = open[:len(open)-1]
		}
	}
	require.Empty(t, open, "elements left open")
}

func TestBuiltInTemplatesRenderInEveryLanguage(t *testing.T) {
	t.Parallel()
	r := builtInRenderer(t)
	tests := []struct {
		name    string
		locale  string // the file rendered
		context string
		subject string
		want    []string // in Text and, but for SMS, in HTML
	}{
		{
			name:    "email/welcome.md",
			locale:  "ru",
			context: `{"username": "anna_k"}`,
			subject: "Добро пожаловать в онлайн-кинотеатр, Анна!",
			want:    []string{"Добро пожаловать, Анна!", "Ваш логин:", "anna_k", "Приятного просмотра!"},
		},
		{
			name:    "email/welcome.md",
			locale:  "en",
			context: `{"username": "emma_w"}`,
			subject: "Welcome to the online cinema, Emma!",
			want:    []string{"Welcome, Emma!", "Your username is", "emma_w", "Happy watching!"},
		},
		{
			name:    "email/email_confirmation.md",
			locale:  "ru",
			context: `{"confirmation_link": "http://auth/abcDe4"}`,
			subject: "Подтвердите адрес электронной почты",
			want:    []string{"Здравствуйте, Анна!", "anna@example.com", "http://auth/abcDe4", "Подтвердить адрес"},
		},
		{
			name:    "email/email_confirmation.md",
			locale:  "en",
			context: `{"confirmation_link": "http://auth/abcDe4"}`,
			subject: "Confirm your email address",
			want:    []string{"Hi Emma,", "confirm emma@example.com as your address", "http://auth/abcDe4", "Confirm my address", "safely ignore"},
		},
		{
			name:   "email/new_movies.md",
			locale: "ru",
			context: `{"movies": [
				{"title": "Сталкер", "year": 1979, "url": "https://cinema.example/movies/1", "description": "Фильм Андрея Тарковского."},
				{"title": "Брат"},
				{"url": "https://cinema.example/movies/3"}
			]}`,
			subject: "Новые фильмы в каталоге",
			want:    []string{"Новинки в каталоге", "Сталкер", "(1979)", "https://cinema.example/movies/1", "Фильм Андрея Тарковского.", "Брат", "Без названия"},
		},
		{
			name:   "email/new_movies.md",
			locale: "en",
			context: `{"movies": [
				{"title": "Stalker", "year": 1979, "url": "https://cinema.example/movies/1", "description": "A film by Andrei Tarkovsky."},
				{"title": "Brother"},
				{"url": "https://cinema.example/movies/3"}
			]}`,
			subject: "New movies just added",
			want:    []string{"New in the catalog", "Hi Emma, new movies", "Stalker", "(1979)", "https://cinema.example/movies/1", "A film by Andrei Tarkovsky.", "Brother", "Untitled", "Happy watching!"},
		},
		{
			name:    "email/new_episode.md",
			locale:  "ru",
			context: `{"series": {"title": "Мастер и Маргарита", "season": 1, "episode": 4, "episode_title": "Бал", "url": "https://cinema.example/series/7"}}`,
			subject: "Вышла новая серия: «Мастер и Маргарита»",
			want:    []string{"Новая серия «Мастер и Маргарита»", "Сезон 1, серия 4: «Бал»", "https://cinema.example/series/7", "Смотреть"},
		},
		{
			name:    "email/new_episode.md",
			locale:  "en",
			context: `{"series": {"title": "The Master and Margarita", "season": 1, "episode": 4, "episode_title": "The Ball", "url": "https://cinema.example/series/7"}}`,
			subject: "A new episode of “The Master and Margarita” is out",
			want:    []string{"New episode of “The Master and Margarita”", "a show you follow", "Season 1, episode 4: “The Ball”", "https://cinema.example/series/7", "Watch now"},
		},
		{
			name:    "email/reactions_summary.md",
			locale:  "ru",
			context: `{"reaction_type": "like", "total": 7, "target_url": "https://activity_api/api/v1/reviews/42", "review": {"title": "Лучший фильм года"}}`,
			subject: "Новые реакции на вашу рецензию: 7",
			want:    []string{"Вашу рецензию оценили", "«Нравится»", "«Лучший фильм года»", "7", "https://activity_api/api/v1/reviews/42"},
		},
		{
			name:    "email/reactions_summary.md",
			locale:  "en",
			context: `{"reaction_type": "like", "total": 7, "target_url": "https://activity_api/api/v1/reviews/42", "review": {"title": "Best film of the year"}}`,
			subject: "New reactions to your review: 7",
			want:    []string{"People are reacting to your review", "Your review “Best film of the year” got", "7", "new likes.", "https://activity_api/api/v1/reviews/42", "Read your review"},
		},
		{
			name: "inapp/welcome.md", locale: "ru", context: `{"username": "anna_k"}`,
			subject: "Добро пожаловать в онлайн-кинотеатр, Анна!", want: []string{"новинки каталога"},
		},
		{
			name: "inapp/welcome.md", locale: "en", context: `{"username": "emma_w"}`,
			subject: "Welcome to the online cinema, Emma!", want: []string{"new in the catalog"},
		},
		{
			name: "inapp/new_movies.md", locale: "ru", context: `{"movies": [{"title": "Сталкер", "year": 1979, "url": "https://cinema.example/movies/1"}, {"title": "Брат"}]}`,
			subject: "Новые фильмы в каталоге", want: []string{"- [Сталкер](https://cinema.example/movies/1) (1979)", "- Брат"},
		},
		{
			name: "inapp/new_movies.md", locale: "en", context: `{"movies": [{"title": "Stalker"}]}`,
			subject: "Just added: Stalker", want: []string{"- Stalker"},
		},
		{
			name: "inapp/new_episode.md", locale: "ru", context: `{"series": {"title": "Мастер и Маргарита", "season": 1, "episode": 4, "episode_title": "Бал", "url": "https://cinema.example/series/7"}}`,
			subject: "Вышла новая серия: «Мастер и Маргарита»", want: []string{"Сезон 1, серия 4: «Бал».", "[Смотреть](https://cinema.example/series/7)"},
		},
		{
			name: "inapp/new_episode.md", locale: "en", context: `{"series": {"title": "The Master and Margarita", "episode": 4}}`,
			subject: "A new episode of “The Master and Margarita” is out", want: []string{"Episode 4."},
		},
		{
			name: "inapp/reactions_summary.md", locale: "ru", context: `{"reaction_type": "like", "total": 7, "target_url": "https://activity_api/api/v1/reviews/42"}`,
			subject: "Новые реакции на вашу рецензию: 7", want: []string{"«Нравится»", "**7**", "(https://activity_api/api/v1/reviews/42)"},
		},
		{
			name: "inapp/reactions_summary.md", locale: "en", context: `{"reaction_type": "like", "total": 1, "review": {"title": "Best film"}}`,
			subject: "New reactions to your review: 1", want: []string{"Your review “Best film” got **1** new like."},
		},
		{
			name: "email/reactions_digest.md", locale: "ru", context: `{"count": 3, "more": 0, "totals": {"total": 15}, "groups": [{"key": "like", "count": 2, "totals": {"total": 12}}, {"key": "dislike", "count": 1, "totals": {"total": 3}}], "items": [{"reaction_type": "like", "total": 5, "target_url": "https://activity_api/api/v1/reviews/42", "review": {"title": "Лучший фильм года"}}, {"reaction_type": "like", "total": 7}, {"reaction_type": "dislike", "total": 1}]}`,
			subject: "Новые реакции на ваши рецензии: 15",
			want:    []string{"Что думают о ваших рецензиях", "С прошлой сводки: отметок «Нравится» — ", "12", ", отметок «Не нравится» — ", "«Лучший фильм года»: «Нравится» — 5", "https://activity_api/api/v1/reviews/42", "Ваша рецензия: «Не нравится» — 1"},
		},
		{
			name: "email/reactions_digest.md", locale: "en", context: `{"count": 3, "more": 0, "totals": {"total": 15}, "groups": [{"key": "like", "count": 2, "totals": {"total": 12}}, {"key": "dislike", "count": 1, "totals": {"total": 3}}], "items": [{"reaction_type": "like", "total": 5, "target_url": "https://activity_api/api/v1/reviews/42", "review": {"title": "Best film"}}, {"reaction_type": "like", "total": 7}, {"reaction_type": "dislike", "total": 1}]}`,
			subject: "Your reviews got 15 new reactions",
			want:    []string{"What people thought of your reviews", "Since the last digest your reviews got ", " likes and ", " dislikes.", "“Best film”: 5 likes", "Your review: 1 dislike"},
		},
		{
			name: "inapp/reactions_digest.md", locale: "ru", context: `{"count": 3, "more": 0, "totals": {"total": 15}, "groups": [{"key": "like", "count": 2, "totals": {"total": 12}}, {"key": "dislike", "count": 1, "totals": {"total": 3}}], "items": [{"reaction_type": "like", "total": 5, "target_url": "https://activity_api/api/v1/reviews/42", "review": {"title": "x"}}, {"reaction_type": "like", "total": 7}, {"reaction_type": "dislike", "total": 1}]}`,
			subject: "Новые реакции на ваши рецензии: 15", want: []string{"С прошлой сводки: «Нравится» — ", ", «Не нравится» — "},
		},
		{
			name: "inapp/reactions_digest.md", locale: "en", context: `{"count": 1, "totals": {"total": 1}, "items": [{"total": 1}]}`,
			subject: "Your reviews got 1 new reaction", want: []string{" new reaction on your reviews since the last digest."},
		},
		{
			name: "webhook/welcome.md", locale: "ru", context: `{"username": "anna_k"}`,
			subject: "Добро пожаловать в онлайн-кинотеатр, Анна!", want: []string{"новинки каталога"},
		},
		{
			name: "webhook/welcome.md", locale: "en", context: `{"username": "emma_w"}`,
			subject: "Welcome to the online cinema, Emma!", want: []string{"new in the catalog"},
		},
		{
			name: "webhook/new_movies.md", locale: "ru", context: `{"movies": [{"title": "Сталкер", "year": 1979, "url": "https://cinema.example/movies/1"}, {"title": "Брат"}]}`,
			subject: "Новые фильмы в каталоге", want: []string{"- [Сталкер](https://cinema.example/movies/1) (1979)", "- Брат"},
		},
		{
			name: "webhook/new_movies.md", locale: "en", context: `{"movies": [{"title": "Stalker"}]}`,
			subject: "Just added: Stalker", want: []string{"- Stalker"},
		},
		{
			name: "webhook/new_episode.md", locale: "ru", context: `{"series": {"title": "Мастер и Маргарита", "season": 1, "episode": 4, "episode_title": "Бал", "url": "https://cinema.example/series/7"}}`,
			subject: "Вышла новая серия: «Мастер и Маргарита»", want: []string{"Сезон 1, серия 4: «Бал».", "[Смотреть](https://cinema.example/series/7)"},
		},
		{
			name: "webhook/new_episode.md", locale: "en", context: `{"series": {"title": "The Master and Margarita", "episode": 4}}`,
			subject: "A new episode of “The Master and Margarita” is out", want: []string{"Episode 4."},
		},
		{
			name: "webhook/reactions_summary.md", locale: "ru", context: `{"reaction_type": "like", "total": 7, "target_url": "https://activity_api/api/v1/reviews/42"}`,
			subject: "Новые реакции на вашу рецензию: 7", want: []string{"«Нравится»", "**7**", "(https://activity_api/api/v1/reviews/42)"},
		},
		{
			name: "webhook/reactions_summary.md", locale: "en", context: `{"reaction_type": "like", "total": 1, "review": {"title": "Best film"}}`,
			subject: "New reactions to your review: 1", want: []string{"Your review “Best film” got **1** new like."},
		},
		{
			name: "webhook/phone_confirmation.md", locale: "ru", context: `{"secret_code": "1234"}`,
			subject: "Код подтверждения", want: []string{"Код подтверждения: **1234**. Никому не сообщайте его."},
		},
		{
			name: "webhook/phone_confirmation.md", locale: "en", context: `{"secret_code": "1234"}`,
			subject: "Your confirmation code", want: []string{"Your confirmation code: **1234**. Don't share it with anyone."},
		},
		{
			name:    "sms/phone_confirmation.md",
			locale:  "ru",
			context: `{"secret_code": "1234"}`,
			want:    []string{"Код подтверждения: 1234. Никому не сообщайте его."},
		},
		{
			name:    "sms/phone_confirmation.md",
			locale:  "en",
			context: `{"secret_code": "1234"}`,
			want:    []string{"Your confirmation code: 1234. Don't share it with anyone."},
		},
	}
	covered := map[string][]string{}
	for _, tt := range tests {
		covered[tt.name] = append(covered[tt.name], tt.locale)
	}
	require.ElementsMatch(t, r.Names(), slices.Collect(func(yield func(string) bool) {
		for name := range covered {
			if !yield(name) {
				return
			}
		}
	}), "every built-in template has cases here")
	for _, name := range r.Names() {
		assert.Equal(t, []string{"en", "ru"}, r.Locales(name), "%s ships Russian and English", name)
		assert.ElementsMatch(t, []string{"en", "ru"}, covered[name], "%s is checked in both", name)
	}

	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.locale, func(t *testing.T) {
			t.Parallel()
			data := decode(t, tt.context)
			user := sampleUser(t)
			if tt.locale == "en" {
				user = sampleEnglishUser(t)
			}
			data["user"] = user

			out, err := r.RenderLocale(tt.name, user["locale"].(string), data)

			require.NoError(t, err)
			assert.Equal(t, tt.locale, out.Locale)
			assert.Equal(t, strings.TrimSuffix(tt.name, ".md")+"."+tt.locale+".md", out.File)
			assert.False(t, out.MalformedLocale)
			assert.Equal(t, tt.subject, out.Subject)
			for _, want := range tt.want {
				assert.Contains(t, out.Text, want)
			}
			assert.NotContains(t, out.Text, ".000000", "JSON numbers print as written")
			if tt.locale == "en" {
				assert.False(t, cyrillic.MatchString(out.Subject+out.Text+out.HTML), "nothing Russian in %q\n%s", out.Text, out.HTML)
			}
			if strings.HasPrefix(tt.name, "inapp/") || strings.HasPrefix(tt.name, "webhook/") {
				assert.Empty(t, out.HTML, "an in-app or webhook message is Markdown only")
				assert.NotContains(t, out.Text, "{%")
				return
			}
			if tt.subject == "" {
				assert.Empty(t, out.HTML)
				assert.LessOrEqual(t, len([]rune(out.Text)), 70, "an SMS fits one segment")
				return
			}
			for _, want := range tt.want {
				assert.Contains(t, out.HTML, want)
			}
			assert.Contains(t, out.HTML, `<html lang="`+tt.locale+`">`)
			assert.Contains(t, out.HTML, "<title>"+tt.subject+"</title>")
			assert.Contains(t, out.HTML, user["email"].(string), "the footer names the address")
			footer := map[string]string{"ru": "Вы получили это письмо", "en": "You received this email"}[tt.locale]
			assert.Contains(t, out.HTML, footer, "the footer speaks the message's language")
			assert.NotContains(t, out.HTML, "{{")
			assert.NotContains(t, out.HTML, "{%")
			requireWellFormedHTML(t, out.HTML)
		})
	}
}

func TestBuiltInTemplatesSurviveAnEmptyContext(t *testing.T) {
	t.Parallel()
	r := builtInRenderer(t)

	for _, name := range r.Names() {
		for _, locale := range r.Locales(name) {
			out, err := r.RenderLocale(name, locale, nil)

			require.NoError(t, err, name)
			assert.Equal(t, locale, out.Locale)
			assert.NotEmpty(t, out.Text, name)
			if out.HTML != "" {
				requireWellFormedHTML(t, out.HTML)
			}
		}
	}
}

func TestBuiltInTemplatesEscapeRecipientData(t *testing.T) {
	t.Parallel()
	r := builtInRenderer(t)
	user := sampleUser(t)
	user["first_name"] = "<script>alert(1)</script>"

	for _, name := range r.Names() {
		for _, locale := range r.Locales(name) {
			out, err := r.RenderLocale(name, locale, map[string]any{"user": user, "username": "<script>"})

			require.NoError(t, err, name)
			assert.NotContains(t, out.HTML, "<script", name)
		}
	}
}

func TestBuiltInLayoutLinksUnsubscribe(t *testing.T) {
	t.Parallel()
	r := builtInRenderer(t)

	for _, locale := range []string{"ru", "en"} {
		out, err := r.RenderLocale("email/welcome.md", locale, map[string]any{
			"user":            sampleUser(t),
			"unsubscribe_url": "https://notifier.example/api/v1/unsubscribe?token=a&b",
		})

		require.NoError(t, err)
		assert.Contains(t, out.HTML, `<a href="https://notifier.example/api/v1/unsubscribe?token=a&amp;b"`, locale)
	}
}

func TestBuiltInTemplatesAreValidForEitherDefaultLocale(t *testing.T) {
	t.Parallel()
	for _, def := range []string{"ru", "en", "en-GB", "ru_RU"} {
		r, err := templating.New(templates.FS, def)
		require.NoError(t, err, def)
		for _, name := range r.Names() {
			require.NoError(t, r.Validate(name), "%s with default %s", name, def)
		}
		out, err := r.Render("email/welcome.md", nil)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"ru": "ru", "en": "en", "en-GB": "en", "ru_RU": "ru"}[def], out.Locale,
			"a recipient without a locale gets the default's")
	}
}
