package notifiertest_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/browsertest"
	"github.com/notifier/notifier/notifiertest"
	"github.com/notifier/notifier/platform/config"
)

// A person reads the mailing's email in a real browser, follows its
// unsubscribe link, sees what will happen (nothing has yet), presses the
// button and is unsubscribed; an altered link says it is not valid.
// Screenshots of each page go to the test's artifact directory
// (go test -artifacts -run TestAPersonUnsubscribesInABrowser ./notifiertest/).
func TestAPersonUnsubscribesInABrowser(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Browser(t)

	// The links in emails point at the public URL: a proxy in front of the
	// notifier, whose own address is known only once it runs.
	var target atomic.Pointer[url.URL]
	public := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target.Load())
	}})
	t.Cleanup(public.Close)
	n := notifiertest.Start(t, notifiertest.WithConfig(func(c *config.Config) { c.HTTP.PublicURL = public.URL }))
	u, err := url.Parse(n.URL)
	require.NoError(t, err)
	target.Store(u)

	n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-browser-1"))
	n.WaitForPostingsFromEvent(t, "evt-browser-1", 1)
	mail := emailTo(t, n.Outbox.ByChannel("email"), "anna@example.com")
	require.True(t, strings.HasPrefix(mail.ListUnsubscribe, public.URL+"/api/v1/unsubscribe?token="), mail.ListUnsubscribe)
	inbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(mail.HTML))
	}))
	t.Cleanup(inbox.Close)

	// The email, as its HTML part shows.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(inbox.URL), chromedp.WaitVisible(chromedp.CSS(`a[href*="/api/v1/unsubscribe"]`))))
	browsertest.Screenshot(t, ctx, "1-email.png")
	link, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`a[href*="/api/v1/unsubscribe"]`)))
	require.NoError(t, err)
	require.Equal(t, "Отписаться от таких писем", strings.TrimSpace(link))
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	require.Equal(t, "ru", lang)

	// Вера reads English (en-GB in the directory): her email is in English,
	// its layout says so, and its footer link reads so.
	vera := emailTo(t, n.Outbox.ByChannel("email"), "vera@example.com")
	veraInbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(vera.HTML))
	}))
	t.Cleanup(veraInbox.Close)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(veraInbox.URL), chromedp.WaitVisible(chromedp.CSS(`a[href*="/api/v1/unsubscribe"]`))))
	browsertest.Screenshot(t, ctx, "1-email-en.png")
	lang, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	require.Equal(t, "en", lang, "the locale actually used: there is no en-GB file, en is next")
	link, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`a[href*="/api/v1/unsubscribe"]`)))
	require.NoError(t, err)
	require.Equal(t, "Unsubscribe from these emails", strings.TrimSpace(link))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(inbox.URL), chromedp.WaitVisible(chromedp.CSS(`a[href*="/api/v1/unsubscribe"]`))))

	// Анна's link: a page that asks, and changes nothing yet.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href*="/api/v1/unsubscribe"]`)), chromedp.WaitVisible(chromedp.CSS(`button[type="submit"]`))))
	browsertest.Screenshot(t, ctx, "2-unsubscribe-page.png")
	question, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	require.NoError(t, err)
	require.Contains(t, question, "Вы перестанете получать уведомления «новые фильмы» по электронной почте")
	require.Empty(t, perType(t, n), "opening the page unsubscribes nobody")

	// The button.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`))))
	require.Eventually(t, func() bool {
		h1, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("h1") || {}).textContent || ""`))
		return err == nil && h1 == "Вы отписались"
	}, 10*time.Second, 50*time.Millisecond, "the page after the button says it is done")
	browsertest.Screenshot(t, ctx, "3-unsubscribed.png")
	require.Equal(t, map[string]any{"new_movies": map[string]any{"email": false}}, perType(t, n))

	// An altered link.
	altered := mail.ListUnsubscribe[:len(mail.ListUnsubscribe)-3] + "AAA"
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(altered), chromedp.WaitVisible(chromedp.CSS("h1"))))
	browsertest.Screenshot(t, ctx, "4-invalid-link.png")
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	require.NoError(t, err)
	require.Equal(t, "Ссылка недействительна", title)
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("button").length`))
	require.NoError(t, err)
	require.Zero(t, buttons, "nothing to press on an invalid link")
}

func perType(t *testing.T, n *notifiertest.Notifier) any {
	t.Helper()
	resp := n.Do(t, http.MethodGet, "/api/v1/users/"+anna+"/preferences", notifiertest.ManagerToken, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	if m, ok := resp.Map(t)["per_type"].(map[string]any); ok && len(m) == 0 {
		return nil
	}
	return resp.Map(t)["per_type"]
}
