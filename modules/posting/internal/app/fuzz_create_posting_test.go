package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

// countingSender counts the commands sent and the events published.
type countingSender struct {
	mu sync.Mutex
	n  int
}

func (s *countingSender) Send(context.Context, any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return nil
}

func (s *countingSender) Publish(ctx context.Context, event any) error { return s.Send(ctx, event) }

func (s *countingSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

var fuzzNotificationType = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// FuzzCreatePosting checks the validation of a posting request: whatever
// the request, it is refused as invalid naming a field, or it makes a
// posting whose receivers URL is an http(s) URL of a configured upstream,
// without credentials, whose query the directory can read; whose channels
// are known, each once, with a template each; whose notification type and
// priority are well-formed (the priority the receivers imply when none was
// given); and asking the same again returns that posting without sending
// anything. The corpus is the brief's three postings
// (testdata/fuzz/FuzzCreatePosting).
func FuzzCreatePosting(f *testing.F) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := upstream.New(upstream.Config{Attempts: 1}, logger,
		upstream.WithHandler("auth", http.NotFoundHandler()), upstream.WithHandler("fastapi", http.NotFoundHandler()))
	if err != nil {
		f.Fatal(err)
	}
	renderer, err := templating.New(templates.FS, "ru")
	if err != nil {
		f.Fatal(err)
	}
	commands := &countingSender{}
	create, err := app.NewCreatePostingHandler(memory.New(), db.NoTx{}, commands, commands, renderer, client, clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), logger)
	if err != nil {
		f.Fatal(err)
	}
	fields := []string{"idempotency_key", "request_fingerprint", "from_event", "from_service", "receivers", "delivery_type",
		"template", "template_context", "notification_type", "priority", "send_at"}

	for _, s := range [][]string{
		{"http://auth/api/v1/users/?id=6f1c2a57", "email/email_confirmation.md", "email", "", "", "", "event_id", `{"confirmation_link": "http://auth/abcDe4"}`},
		{"HTTP://Auth:81/api/v1/users/?id=a;b", "sms/phone_confirmation.md", "sms,sms", "", "", "k-1", "", `{"secret_code": "1234"}`},
		{"http://auth/api/v1/users/?is_active=%zz", "email/new_movies.md", "email,sms", "New_Movies", "bulk", "", "", `null`},
		{"http://user:pw@auth/api/v1/users/", "email/new_movies.md", "email", "", "asap", "", "", `[]`},
		{" http://fastapi/api/v1/users/6f1c2a57/ ", "new_movies.md", "sms", "x", "transactional", " ", "\x00", `{"a": "\u0000"}`},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6], []byte(s[7]))
	}
	f.Fuzz(func(t *testing.T, receivers, template, channels, notificationType, priority, key, fromEvent string, templateContext []byte) {
		cmd := posting.CreatePosting{
			IdempotencyKey: key, FromEvent: fromEvent, FromService: "fuzz", NotificationType: notificationType,
			Receivers: receivers, Template: template, DeliveryType: strings.Split(channels, ","),
			Priority: posting.Priority(priority),
		}
		if json.Unmarshal(templateContext, &cmd.TemplateContext) != nil {
			cmd.TemplateContext = nil
		}
		p, _, err := create.Handle(t.Context(), cmd)
		if err != nil {
			var e *app.Error
			if !errors.As(err, &e) || (e.Code != app.CodeInvalid && e.Code != app.CodeKeyReused) || !slices.Contains(fields, e.Field) {
				t.Fatalf("%+v refused with %v, not an invalid request naming a field", cmd, err)
			}
			return
		}

		u, err := url.Parse(p.Receivers)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || len(p.Receivers) > 2048 {
			t.Fatalf("receivers %q accepted (%v)", p.Receivers, err)
		}
		if host := strings.ToLower(u.Hostname()); host != "auth" && host != "fastapi" {
			t.Fatalf("receivers %q accepted on host %q", p.Receivers, host)
		}
		if _, err := url.ParseQuery(u.RawQuery); err != nil {
			t.Fatalf("receivers %q accepted, but the directory cannot read its query: %v", p.Receivers, err)
		}
		if len(p.Channels) == 0 {
			t.Fatalf("posting without channels accepted")
		}
		for i, ch := range p.Channels {
			if (ch != posting.ChannelEmail && ch != posting.ChannelSMS) || slices.Contains(p.Channels[:i], ch) {
				t.Fatalf("channels %v accepted", p.Channels)
			}
			if !renderer.Exists(domain.TemplateFor(p.Template, ch)) {
				t.Fatalf("template %q accepted without one for %s", p.Template, ch)
			}
		}
		if !fuzzNotificationType.MatchString(p.NotificationType) {
			t.Fatalf("notification type %q accepted", p.NotificationType)
		}
		switch {
		case p.Priority != posting.PriorityTransactional && p.Priority != posting.PriorityBulk:
			t.Fatalf("priority %q accepted", p.Priority)
		case priority == "" && p.Priority != domain.DefaultPriority(p.Receivers):
			t.Fatalf("receivers %q got priority %s by default", p.Receivers, p.Priority)
		}

		sent := commands.count()
		again, created, err := create.Handle(t.Context(), cmd)
		if err != nil || created || again.ID != p.ID || commands.count() != sent {
			t.Fatalf("the same request again gave %v, created %v, %v (commands %d then %d)", again.ID, created, err, sent, commands.count())
		}
	})
}
