package notifiertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/browsertest"
	"github.com/notifier/notifier/modules/delivery/capture"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/demodirectory"
)

// The digest of reactions, as Борис reads it in a real browser, in
// Russian and (with his directory record in English) in English: one
// email that sums the reactions up by kind and lists the reviews.
// Screenshots go to the test's artifact directory
// (go test -artifacts -run TestADigestEmailReadsWellInABrowser ./notifiertest/).
func TestADigestEmailReadsWellInABrowser(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Browser(t)
	for _, tc := range []struct {
		locale, shot, h1, summary string
		items                     []string
	}{
		{"ru", "digest-email.png", "Что думают о ваших рецензиях",
			"С прошлой сводки: отметок «Нравится» — 12, отметок «Не нравится» — 3.",
			[]string{"Ваша рецензия: «Нравится» — 5 (открыть)", "Ваша рецензия: «Нравится» — 7 (открыть)", "Ваша рецензия: «Не нравится» — 3 (открыть)"}},
		{"en-GB", "digest-email-en.png", "What people thought of your reviews",
			"Since the last digest your reviews got 12 likes and 3 dislikes.",
			[]string{"Your review: 5 likes (read it)", "Your review: 7 likes (read it)", "Your review: 3 dislikes (read it)"}},
	} {
		demo, err := demodirectory.LoadDefault()
		require.NoError(t, err)
		for i := range demo.Users {
			if demo.Users[i].ID == boris {
				demo.Users[i].Locale = tc.locale
			}
		}
		fake := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
		n := notifiertest.Start(t, notifiertest.WithClock(fake), notifiertest.WithDirectory(demo), notifiertest.WithConfig(reactionsDigest))
		for i, r := range []struct {
			kind  string
			total int
		}{{"like", 5}, {"like", 7}, {"dislike", 3}} {
			fake.Advance(time.Minute) // in this order in the list
			n.PublishEvent(t, reactionsEvent(fmt.Sprintf("evt-browser-digest-%d", i), r.kind, r.total))
			waitHeld(t, n, boris, i+1)
		}
		if tc.locale == "ru" {
			// A manager sees in the console what waits for Борис's digest.
			console := n.URL + "/console"
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/users/"+boris), chromedp.WaitVisible(chromedp.CSS("#token")),
				chromedp.SetValue(chromedp.CSS("#token"), notifiertest.ManagerToken),
				chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#digests"))))
			browsertest.Screenshot(t, ctx, "digest-console.png")
			browsertest.NoAxeViolations(t, ctx, "user with digests")
			rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#digests tbody tr")].map(tr => tr.innerText.replace(/\s+/g, " ").trim())`))
			require.NoError(t, err)
			require.Equal(t, []string{"reactions email 3 2026-12-06 13:01:00 UTC"}, rows)
		}
		fake.Advance(time.Hour)
		mail := n.WaitForMessages(t, 1)[0]
		page := serveEmail(t, mail)

		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("h1"))))
		browsertest.Screenshot(t, ctx, tc.shot)
		h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
		require.NoError(t, err)
		require.Equal(t, tc.h1, strings.TrimSpace(h1))
		summary, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1 + p + p")))
		require.NoError(t, err)
		require.Equal(t, tc.summary, strings.TrimSpace(summary))
		items, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("li")].map(li => li.textContent.trim())`))
		require.NoError(t, err)
		require.Equal(t, tc.items, items)
		links, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('li a[href*="/reviews/`+review+`"]').length`))
		require.NoError(t, err)
		require.Equal(t, 3, links, "each review is a link")
		unsubscribe, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href*="/api/v1/unsubscribe"]').length`))
		require.NoError(t, err)
		require.Equal(t, 1, unsubscribe, "one click turns the digests off")
	}
}

// serveEmail serves an email's HTML part, as a mail client shows it, and
// returns its URL.
func serveEmail(t *testing.T, m capture.Message) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(m.HTML))
	}))
	t.Cleanup(s.Close)
	return s.URL
}
