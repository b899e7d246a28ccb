package notifiertest_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/demodirectory"
)

// catalogueOf returns the demo directory with n more new movies, each
// about 100 bytes of JSON.
func catalogueOf(t *testing.T, n int) *demodirectory.Data {
	t.Helper()
	d, err := demodirectory.LoadDefault()
	require.NoError(t, err)
	for i := range n {
		d.Movies = append(d.Movies, map[string]any{
			"id": fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "title": fmt.Sprintf("Фильм номер %04d", i),
			"new": true, "description": strings.Repeat("описание ", 4),
		})
	}
	return d
}

func TestALargeMovieListIsStoredOnceAndStillReachesEveryEmail(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"memory", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			opts := []notifiertest.Option{
				notifiertest.WithDirectory(catalogueOf(t, 200)), // the first page: ~6 KB of movies
				notifiertest.WithConfig(func(c *config.Config) { c.Posting.InlineContextMax = 4096 }),
			}
			if transport != "memory" {
				opts = append(opts, notifiertest.WithTransport(transport))
			}
			n := notifiertest.Start(t, opts...)

			resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, seed(t, "posting_new_movies.json"))
			require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
			var created notifiertest.Posting
			resp.JSON(t, &created)

			p := n.WaitForPosting(t, created.ID)
			require.Equal(t, "completed", p.Status)
			require.Equal(t, 3, p.Counters.Sent)
			for _, m := range n.Outbox.ByChannel("email") {
				require.Contains(t, m.Text, "Фильм номер 0000")
				require.Contains(t, m.Text, "Фильм номер 0047", "the directory's first page of 50 movies")
			}
			if transport != "memory" {
				pool, err := pgxpool.New(context.Background(), n.Config.Database.URL)
				require.NoError(t, err)
				defer pool.Close()
				var refs int
				require.NoError(t, pool.QueryRow(context.Background(),
					`SELECT count(*) FROM claim_checks WHERE ref = $1`, "posting:"+created.ID+":template_context").Scan(&refs))
				require.Equal(t, 1, refs, "the context was stored once, not copied into the batch")
			}
		})
	}
}

func TestAMovieListTooLargeOnceFetchedFailsThePostingWithAClearError(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t,
		notifiertest.WithDirectory(catalogueOf(t, 200)),
		notifiertest.WithConfig(func(c *config.Config) {
			c.Posting.MaxResolvedContext, c.Posting.InlineContextMax = 8192, 4096
		}))

	resp := n.Do(t, http.MethodPost, "/api/v1/postings", notifiertest.ServiceToken, seed(t, "posting_new_movies.json"))
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var created notifiertest.Posting
	resp.JSON(t, &created)

	p := n.WaitForPosting(t, created.ID)
	require.Equal(t, "failed", p.Status)
	got := n.Do(t, http.MethodGet, "/api/v1/postings/"+created.ID, notifiertest.ServiceToken, nil).Map(t)
	require.Contains(t, got["error"], "more than the 8192 allowed (posting.max_resolved_context)")
	require.Empty(t, n.Outbox.Messages())
}
