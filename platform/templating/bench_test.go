package templating_test

import (
	"fmt"
	"testing"

	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

// benchMovies is a new-movies context as a mailing carries it.
func benchMovies() []any {
	movies := make([]any, 0, 5)
	for i := range 5 {
		movies = append(movies, map[string]any{
			"title": fmt.Sprintf("Фильм %d", i), "year": float64(2020 + i),
			"url": fmt.Sprintf("https://cinema.example.com/movies/%d", i), "description": "Описание фильма.",
		})
	}
	return movies
}

// BenchmarkRenderLocale renders the new-movies email for one recipient, as a
// mailing does for each: in the default locale, and for recipients whose
// locales (as the directory writes them) take each path of the chain.
func BenchmarkRenderLocale(b *testing.B) {
	r, err := templating.New(templates.FS, "ru")
	if err != nil {
		b.Fatal(err)
	}
	movies := benchMovies()
	for _, locale := range []string{"", "ru", "en_GB", "de-AT", "not a locale"} {
		b.Run(fmt.Sprintf("locale=%q", locale), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data := map[string]any{
					"user":   map[string]any{"first_name": "Анна", "username": "user1", "locale": locale},
					"movies": movies,
				}
				if _, err := r.RenderLocale("email/new_movies.md", locale, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
