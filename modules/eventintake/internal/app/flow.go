package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/messaging"
)

// CommandSender sends commands; *cqrs.CommandBus is one.
type CommandSender interface {
	Send(ctx context.Context, cmd any) error
}

// EventHandler turns one known event type into postings.
type EventHandler interface {
	// HandlerName is the handler's stable name; it is part of the
	// idempotency key of every posting the handler asks for.
	HandlerName() string
	// EventType is the event type the handler handles.
	EventType() string
	// Priority is the lane of the postings it asks for.
	Priority() posting.Priority
	// Handle sends the CreatePosting commands for ev, whose event key is
	// key. An error marked messaging.Permanent is not worth retrying; any
	// other error is.
	Handle(ctx context.Context, key string, ev domain.Event) error
}

// placeholderPattern finds the {name} placeholders of a receivers template.
var placeholderPattern = regexp.MustCompile(`\{[^{}]*\}`)

// flow is one configured event flow (config.Intake.Flows[event]): what
// postings the event makes.
type flow struct {
	notificationType string
	template         string
	channels         []string
	priority         posting.Priority
	// receivers is a URL template; placeholder, if any, is replaced by a
	// value taken from the event.
	receivers   string
	placeholder string
}

// newFlow checks the configured flow of event. placeholder names the one
// placeholder its receivers template must hold ("" for none).
func newFlow(event string, flows map[string]config.Flow, placeholder string) (flow, error) {
	c, ok := flows[event]
	if !ok {
		return flow{}, fmt.Errorf("intake.flows.%s: missing", event)
	}
	var errs []error
	field := func(name string) string { return "intake.flows." + event + "." + name }
	if strings.TrimSpace(c.NotificationType) == "" {
		errs = append(errs, fmt.Errorf("%s: required", field("notification_type")))
	}
	if strings.TrimSpace(c.Template) == "" {
		errs = append(errs, fmt.Errorf("%s: required", field("template")))
	}
	if len(c.Channels) == 0 || slices.Contains(c.Channels, "") {
		errs = append(errs, fmt.Errorf("%s: at least one channel, none empty", field("channels")))
	}
	switch p := posting.Priority(c.Priority); p {
	case "", posting.PriorityTransactional, posting.PriorityBulk:
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not %s or %s", field("priority"), c.Priority, posting.PriorityTransactional, posting.PriorityBulk))
	}
	want := ""
	if placeholder != "" {
		want = "{" + placeholder + "}"
	}
	for _, found := range placeholderPattern.FindAllString(c.Receivers, -1) {
		if found != want {
			errs = append(errs, fmt.Errorf("%s: unknown placeholder %s (allowed: %s)", field("receivers"), found, orNone(want)))
		}
	}
	if want != "" && !strings.Contains(c.Receivers, want) {
		errs = append(errs, fmt.Errorf("%s: must contain %s", field("receivers"), want))
	}
	if strings.TrimSpace(c.Receivers) == "" {
		errs = append(errs, fmt.Errorf("%s: required", field("receivers")))
	}
	if err := errors.Join(errs...); err != nil {
		return flow{}, err
	}
	return flow{
		notificationType: c.NotificationType,
		template:         c.Template,
		channels:         slices.Clone(c.Channels),
		priority:         posting.Priority(c.Priority),
		receivers:        c.Receivers,
		placeholder:      want,
	}, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// posting builds the CreatePosting command of one posting of the flow.
// value replaces the receivers placeholder; subID tells apart the postings
// one event makes (empty when it makes one).
func (f flow) posting(key, handler, subID, fromService, value string, templateContext map[string]any) posting.CreatePosting {
	receivers := f.receivers
	if f.placeholder != "" {
		receivers = strings.ReplaceAll(receivers, f.placeholder, value)
	}
	return posting.CreatePosting{
		IdempotencyKey:   IdempotencyKey(key, handler, subID),
		FromEvent:        key,
		FromService:      fromService,
		NotificationType: f.notificationType,
		Receivers:        receivers,
		Template:         f.template,
		DeliveryType:     slices.Clone(f.channels),
		TemplateContext:  templateContext,
		Priority:         f.priority,
	}
}

// IdempotencyKey returns the idempotency key of a posting made by handler
// from the event with key: "event:<key>:<handler>", with ":<subID>"
// appended when the event makes several postings.
func IdempotencyKey(key, handler, subID string) string {
	k := "event:" + key + ":" + handler
	if subID != "" {
		k += ":" + subID
	}
	return k
}

// detailsOf returns ev's details as T; a mismatch is a programming error,
// so it is permanent.
func detailsOf[T domain.Details](handler string, ev domain.Event) (T, error) {
	d, ok := ev.Details.(T)
	if !ok {
		var zero T
		return zero, messaging.Permanent(fmt.Errorf("%s: got %T details for a %s event", handler, ev.Details, ev.Type))
	}
	return d, nil
}

// sendAll sends the commands in order; it stops at the first failure,
// which is worth retrying (the postings already asked for are idempotent).
func sendAll(ctx context.Context, sender CommandSender, cmds []posting.CreatePosting) error {
	for i := range cmds {
		if err := sender.Send(ctx, &cmds[i]); err != nil {
			return fmt.Errorf("send create posting %s: %w", cmds[i].IdempotencyKey, err)
		}
	}
	return nil
}
