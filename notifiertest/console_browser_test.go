package notifiertest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/browsertest"
	"github.com/notifier/notifier/notifiertest"
)

// A manager signs in to the console in a real browser, creates a mailing
// from the form (after its live preview), watches it complete, schedules
// another and cancels it, edits a user's switches and signs out; every page
// is screenshotted and checked with axe-core. Screenshots:
// go test -run TestAManagerUsesTheConsole -artifacts -outputdir /tmp/shots ./notifiertest/
func TestAManagerUsesTheConsole(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Browser(t)
	n := notifiertest.Start(t)
	console := n.URL + "/console"
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}
	waitText := func(sel, want string) {
		t.Helper()
		require.Eventually(t, func() bool {
			s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+"`"+sel+"`"+`) || {}).textContent || ""`))
			return err == nil && strings.Contains(s, want)
		}, 15*time.Second, 50*time.Millisecond, "%s shows %q", sel, want)
	}

	// Not signed in: the sign-in page, which refuses a service token.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/postings"), chromedp.WaitVisible(chromedp.CSS("#token"))))
	browsertest.Screenshot(t, ctx, "1-sign-in.png")
	browsertest.NoAxeViolations(t, ctx, "sign-in")
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#token"), notifiertest.ServiceToken),
		chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS(".error"))))
	require.Contains(t, text(".error"), "not a manager's or an admin's token")
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#token"), notifiertest.ManagerToken),
		chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("table"))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(loc, "/console/postings"), "back where it was going: %s", loc)

	// A new mailing from the form, after its preview.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/mailings/new"), chromedp.WaitVisible(chromedp.CSS("#template"))))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#template"), "email/new_episode.md"),
		chromedp.SetValue(chromedp.CSS("#receivers"), "http://auth/api/v1/users/?is_active=True&subscribed_series="+seriesMetod),
		chromedp.SetValue(chromedp.CSS("#type"), "promo"),
		chromedp.SetValue(chromedp.CSS("#context"), `{"series": {"title": "Метод"}}`),
	))
	_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`htmx.trigger("#template", "change")`))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#preview iframe") || {}).srcdoc || ""`))
		return err == nil && strings.Contains(s, "Метод")
	}, 10*time.Second, 50*time.Millisecond, "the live preview shows the email")
	// In the in-app inbox too: its message shows under the email's.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[name=channels][value=inapp]`))))
	waitText("#preview", "In-app inbox")
	waitText("#preview", "Title: Вышла новая серия")
	browsertest.Screenshot(t, ctx, "2-new-mailing.png")
	browsertest.NoAxeViolations(t, ctx, "new mailing")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#mailing button[type=submit]:not([formaction])`))))
	waitText(".notice", "Mailing created.")
	waitText("#summary .status", "completed")
	// The counters update live; the deliveries table is as it was when
	// the page loaded: a reload shows them final.
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#deliveries table"))))
	browsertest.Screenshot(t, ctx, "3-posting.png")
	browsertest.NoAxeViolations(t, ctx, "posting")
	require.Contains(t, text("#summary"), "promo")
	deliveries := text("#deliveries tbody")
	require.Contains(t, deliveries, "sent")
	require.NotContains(t, deliveries, "@", "no address on the page")

	// The list shows it, completed, at 100 %.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/postings?type=promo"), chromedp.WaitVisible(chromedp.CSS("#rows"))))
	require.Contains(t, text("#rows"), "completed")
	browsertest.Screenshot(t, ctx, "4-postings.png")
	browsertest.NoAxeViolations(t, ctx, "postings")

	// A scheduled mailing, cancelled from its page.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/mailings/new"), chromedp.WaitVisible(chromedp.CSS("#template"))))
	later := time.Now().UTC().Add(48 * time.Hour).Format("2006-01-02T15:04")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#template"), "email/new_episode.md"),
		chromedp.SetValue(chromedp.CSS("#context"), `{"series": {"title": "Метод"}}`),
		chromedp.SetValue(chromedp.CSS("#send_at"), later),
		chromedp.SetValue(chromedp.CSS("#expires_in"), "7 days"),
		chromedp.Click(chromedp.CSS(`#mailing button[type=submit]:not([formaction])`)),
	))
	waitText("#summary .status", "scheduled")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#summary button.danger`))))
	waitText(".notice", "Cancelled.")
	waitText("#summary .status", "cancelled")
	browsertest.Screenshot(t, ctx, "5-cancelled.png")

	// A user's switches: new_episode off on email.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/users/"+boris), chromedp.WaitVisible(chromedp.CSS(`select[name="per_type.new_episode.email"]`))))
	browsertest.Screenshot(t, ctx, "6-user.png")
	browsertest.NoAxeViolations(t, ctx, "user")
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`select[name="per_type.new_episode.email"]`), "off"),
		chromedp.Click(chromedp.CSS(`form.card button[type=submit]`))))
	waitText(".notice", "Saved.")
	prefs := n.Do(t, http.MethodGet, "/api/v1/users/"+boris+"/preferences", notifiertest.ManagerToken, nil)
	require.Equal(t, map[string]any{"new_episode": map[string]any{"email": false}}, prefs.Map(t)["per_type"])

	// The poison queue is the admins'.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/poison"), chromedp.WaitVisible(chromedp.CSS("h1"))))
	require.Contains(t, text(".error"), "for admins")

	// Signing out ends the session.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/postings"), chromedp.WaitVisible(chromedp.CSS("header form button")),
		chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.CSS("#token"))))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/postings"), chromedp.WaitVisible(chromedp.CSS("#token"))))
}

// With JavaScript off, the console still signs in, previews (the Preview
// button posts the form), creates a mailing and shows it.
func TestTheConsoleWorksWithoutJavaScript(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Browser(t)
	_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)
	n := notifiertest.Start(t)
	console := n.URL + "/console"

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/mailings/new"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), notifiertest.AdminToken), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#template"))))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#template"), "email/new_episode.md"),
		chromedp.SetValue(chromedp.CSS("#receivers"), "http://auth/api/v1/users/?is_active=True&subscribed_series="+seriesMetod),
		chromedp.SetValue(chromedp.CSS("#context"), `{"series": {"title": "Метод"}}`),
		chromedp.Click(chromedp.CSS(`#mailing button[formaction]`)),
		chromedp.WaitVisible(chromedp.CSS("#preview iframe")),
	))
	subject, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#preview p")))
	require.NoError(t, err)
	require.Contains(t, subject, "Метод", "the preview without JavaScript")
	browsertest.Screenshot(t, ctx, "no-js-preview.png")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#mailing button[type=submit]:not([formaction])`)),
		chromedp.WaitVisible(chromedp.CSS(".notice"))))
	notice, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".notice")))
	require.NoError(t, err)
	require.Equal(t, "Mailing created.", notice)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	id := loc[strings.LastIndex(loc, "/")+1 : strings.Index(loc, "?")]
	require.Equal(t, "completed", n.WaitForPosting(t, id).Status)
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#summary"))))
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#summary .status")))
	require.NoError(t, err)
	require.Equal(t, "completed", status, "a reload shows what the live update would have")
}

// An admin sees a poisoned event with its reason in the console and
// discards it; a user's page lists their deliveries.
func TestAnAdminWorksThePoisonQueueAndAUsersDeliveriesInTheConsole(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Browser(t)
	n := notifiertest.Start(t)
	console := n.URL + "/console"
	n.PublishEvent(t, `{"from_service": "auth", "event": "user_deleted", "details": {}}`)
	n.WaitForPoisoned(t, 1)
	n.PublishEvent(t, withEventID(t, seed(t, "event_new_movies.json", "<uuid>", cheburashka), "evt-console-1"))
	n.WaitForPostingsFromEvent(t, "evt-console-1", 1)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/poison"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), notifiertest.AdminToken), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("table"))))
	var rows string
	require.Eventually(t, func() bool {
		var err error
		rows, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("tbody")))
		if err == nil && !strings.Contains(rows, "user_deleted") {
			_, _ = chromedp.Run(ctx, chromedp.Reload())
		}
		return err == nil && strings.Contains(rows, "user_deleted")
	}, 10*time.Second, 200*time.Millisecond, "the poisoned event is listed")
	browsertest.Screenshot(t, ctx, "7-poison-queue.png")
	browsertest.NoAxeViolations(t, ctx, "poison queue")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tbody button.danger`)), chromedp.WaitVisible(chromedp.CSS(".notice"))))
	notice, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".notice")))
	require.NoError(t, err)
	require.Equal(t, "Discarded.", notice)
	rows, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("tbody")))
	require.NoError(t, err)
	require.Contains(t, rows, "empty")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(console+"/users/"+anna), chromedp.WaitVisible(chromedp.CSS("#deliveries table"))))
	deliveries, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#deliveries tbody")))
	require.NoError(t, err)
	require.Contains(t, deliveries, "sent")
	require.NotContains(t, deliveries, "@")
	browsertest.Screenshot(t, ctx, "8-user-deliveries.png")
	browsertest.NoAxeViolations(t, ctx, "user with deliveries")
}

// An admin follows an endpoint's calls in the console: its state and each
// attempt, with the event type and the result.
func TestAnAdminFollowsAWebhookInTheConsole(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Browser(t)
	n := notifiertest.Start(t, withWebhooksToLoopback())
	r := newHookReceiver(t, false)
	id, _ := registerHook(t, n, r.srv.URL+"/hooks", "delivery.sent", "posting.completed")
	n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-console-hook"))
	require.Eventually(t, func() bool { return len(r.got()) == 2 }, 20*time.Second, 10*time.Millisecond)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(n.URL+"/console/webhooks"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), notifiertest.AdminToken), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("tbody a"))))
	list, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("tbody")))
	require.NoError(t, err)
	require.Contains(t, list, "enabled")
	browsertest.Screenshot(t, ctx, "9-webhooks.png")
	browsertest.NoAxeViolations(t, ctx, "webhooks")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("tbody a")), chromedp.WaitVisible(chromedp.CSS("#attempts table"))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(loc, "/console/webhooks/"+id), loc)
	var attempts string
	require.Eventually(t, func() bool {
		attempts, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#attempts tbody")))
		if err == nil && strings.Count(attempts, "success") < 2 {
			_, _ = chromedp.Run(ctx, chromedp.Reload())
		}
		return err == nil && strings.Count(attempts, "success") == 2
	}, 10*time.Second, 200*time.Millisecond, "both calls are in the history")
	require.Contains(t, attempts, "delivery.sent")
	require.Contains(t, attempts, "posting.completed")
	browsertest.Screenshot(t, ctx, "10-webhook.png")
	browsertest.NoAxeViolations(t, ctx, "webhook")
}

// An admin changes a webhook endpoint's URL, events and description from
// its console page; the next calls go to the new URL, signed with the
// secret it had. Screenshot: 11-webhook-changed.png (see above).
func TestAnAdminChangesAWebhookInTheConsole(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Browser(t)
	n := notifiertest.Start(t, withWebhooksToLoopback())
	old, moved := newHookReceiver(t, false), newHookReceiver(t, false)
	id, secret := registerHook(t, n, old.srv.URL+"/hooks", "delivery.sent")
	page := n.URL + "/console/webhooks/" + id
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), notifiertest.AdminToken), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#edit"))))
	// A URL the policy refuses is not saved, and the page says why.
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#hook-url"), "https://crm.example.com/hooks"),
		chromedp.Click(chromedp.CSS("#edit button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(".notice"))))
	require.Equal(t, `Not saved: url: host "crm.example.com" is not on webhooks.allowed_hosts`, text(".notice"))
	require.Contains(t, text(".card dl"), old.srv.URL+"/hooks")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#hook-url"), moved.srv.URL+"/hooks/v2"),
		chromedp.Click(chromedp.CSS(`#edit input[name=events][value="posting.completed"]`)),
		chromedp.SetValue(chromedp.CSS("#hook-description"), "CRM, v2"),
		chromedp.Click(chromedp.CSS("#edit button[type=submit]"))))
	require.Eventually(t, func() bool {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(".notice") || {}).textContent || ""`))
		return err == nil && s == "Saved."
	}, 15*time.Second, 50*time.Millisecond, "the page says it is saved")
	details := text(".card dl")
	require.Contains(t, details, moved.srv.URL+"/hooks/v2")
	require.Contains(t, details, "delivery.sent, posting.completed")
	require.Contains(t, details, "CRM, v2")
	browsertest.Screenshot(t, ctx, "11-webhook-changed.png")
	browsertest.NoAxeViolations(t, ctx, "webhook changed")

	n.PublishEvent(t, withEventID(t, seed(t, "event_user_signed_up.json", "<uuid>", anna), "evt-console-hook-changed"))
	require.Eventually(t, func() bool { return len(moved.got()) == 2 }, 20*time.Second, 10*time.Millisecond)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	for _, c := range moved.got() {
		require.NoError(t, wh.Verify(c.Body, c.Header))
	}
	require.Empty(t, old.got())
}
