package templating_test

import (
	"encoding/json"
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

// decode returns a template context decoded from JSON, as postings store it.
func decode(t *testing.T, text string) map[string]any {
	t.Helper()
	var data map[string]any
	require.NoError(t, json.Unmarshal([]byte(text), &data))
	return data
}

func builtInRenderer(t *testing.T) *templating.Renderer {
	t.Helper()
	r, err := templating.New(templates.FS)
	require.NoError(t, err)
	return r
}

func TestBuiltInTemplatesRender(t *testing.T) {
	t.Parallel()
	r := builtInRenderer(t)
	tests := []struct {
		name    string
		context string
		subject string
		want    []string // in Text and, but for SMS, in HTML
	}{
		{
			name:    "email/welcome.md",
			context: `{"username": "anna_k"}`,
			subject: "Добро пожаловать в онлайн-кинотеатр, Анна!",
			want:    []string{"Добро пожаловать, Анна!", "Ваш логин:", "anna_k", "Приятного просмотра!"},
		},
		{
			name:    "email/email_confirmation.md",
			context: `{"confirmation_link": "http://auth/abcDe4"}`,
			subject: "Подтвердите адрес электронной почты",
			want:    []string{"Здравствуйте, Анна!", "anna@example.com", "http://auth/abcDe4", "Подтвердить адрес"},
		},
		{
			name: "email/new_movies.md",
			context: `{"movies": [
				{"title": "Сталкер", "year": 1979, "url": "https://cinema.example/movies/1", "description": "Фильм Андрея Тарковского."},
				{"title": "Брат"},
				{"url": "https://cinema.example/movies/3"}
			]}`,
			subject: "Новые фильмы в каталоге",
			want:    []string{"Новинки в каталоге", "Сталкер", "(1979)", "https://cinema.example/movies/1", "Фильм Андрея Тарковского.", "Брат", "Без названия"},
		},
		{
			name:    "email/new_episode.md",
			context: `{"series": {"title": "Мастер и Маргарита", "season": 1, "episode": 4, "episode_title": "Бал", "url": "https://cinema.example/series/7"}}`,
			subject: "Вышла новая серия: «Мастер и Маргарита»",
			want:    []string{"Новая серия «Мастер и Маргарита»", "Сезон 1, серия 4: «Бал»", "https://cinema.example/series/7", "Смотреть"},
		},
		{
			name:    "email/reactions_summary.md",
			context: `{"reaction_type": "like", "total": 7, "target_url": "https://activity_api/api/v1/reviews/42", "review": {"title": "Лучший фильм года"}}`,
			subject: "Новые реакции на вашу рецензию: 7",
			want:    []string{"Вашу рецензию оценили", "«Нравится»", "«Лучший фильм года»", "7", "https://activity_api/api/v1/reviews/42"},
		},
		{
			name:    "sms/phone_confirmation.md",
			context: `{"secret_code": "1234"}`,
			want:    []string{"Код подтверждения: 1234. Никому не сообщайте его."},
		},
	}
	require.ElementsMatch(t, r.Names(), func() []string {
		var names []string
		for _, tt := range tests {
			names = append(names, tt.name)
		}
		return names
	}(), "every built-in template has a case here")

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := decode(t, tt.context)
			data["user"] = sampleUser(t)

			out, err := r.Render(tt.name, data)

			require.NoError(t, err)
			assert.Equal(t, tt.subject, out.Subject)
			for _, want := range tt.want {
				assert.Contains(t, out.Text, want)
			}
			assert.NotContains(t, out.Text, ".000000", "JSON numbers print as written")
			if tt.subject == "" {
				assert.Empty(t, out.HTML)
				assert.LessOrEqual(t, len([]rune(out.Text)), 70, "an SMS fits one segment")
				return
			}
			for _, want := range tt.want {
				assert.Contains(t, out.HTML, want)
			}
			assert.Contains(t, out.HTML, `<html lang="ru">`)
			assert.Contains(t, out.HTML, "<title>"+tt.subject+"</title>")
			assert.Contains(t, out.HTML, "anna@example.com", "the footer names the address")
			assert.NotContains(t, out.HTML, "{{")
			assert.NotContains(t, out.HTML, "{%")
		})
	}
}

func TestBuiltInTemplatesSurviveAnEmptyContext(t *testing.T) {
	t.Parallel()
	r := builtInRenderer(t)

	for _, name := range r.Names() {
		out, err := r.Render(name, nil)

		require.NoError(t, err, name)
		assert.NotEmpty(t, out.Text, name)
	}
}

func TestBuiltInTemplatesEscapeRecipientData(t *testing.T) {
	t.Parallel()
	r := builtInRenderer(t)
	user := sampleUser(t)
	user["first_name"] = "<script>alert(1)</script>"

	for _, name := range r.Names() {
		out, err := r.Render(name, map[string]any{"user": user, "username": "<script>"})

		require.NoError(t, err, name)
		assert.NotContains(t, out.HTML, "<script", name)
	}
}

func TestBuiltInLayoutLinksUnsubscribe(t *testing.T) {
	t.Parallel()
	r := builtInRenderer(t)

	out, err := r.Render("email/welcome.md", map[string]any{
		"user":            sampleUser(t),
		"unsubscribe_url": "https://notifier.example/api/v1/unsubscribe?token=a&b",
	})

	require.NoError(t, err)
	assert.Contains(t, out.HTML, `<a href="https://notifier.example/api/v1/unsubscribe?token=a&amp;b"`)
}
