package app_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/config"
)

// recordingSender records the CreatePosting commands it is asked to send,
// or fails with err.
type recordingSender struct {
	mu   sync.Mutex
	err  error
	cmds []posting.CreatePosting
}

func (s *recordingSender) Send(_ context.Context, cmd any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.cmds = append(s.cmds, *cmd.(*posting.CreatePosting))
	return nil
}

func (s *recordingSender) sent() []posting.CreatePosting {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]posting.CreatePosting(nil), s.cmds...)
}

// logRecorder is a slog.Handler keeping every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// at returns the attributes of the records at level, one map per record.
func (h *logRecorder) at(level slog.Level) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.records {
		if r.Level != level {
			continue
		}
		attrs := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		out = append(out, attrs)
	}
	return out
}

func defaultFlows(t *testing.T) map[string]config.Flow {
	t.Helper()
	cfg, err := config.Default()
	require.NoError(t, err)
	return cfg.Intake.Flows
}

// maxBody is the body cap of the consumers and acceptors of these tests:
// every test event is smaller.
const maxBody = 4096

// newConsumer returns a ConsumeEvent over the default flows, recording the
// commands it sends and what it logs.
func newConsumer(t *testing.T) (*app.ConsumeEvent, *recordingSender, *logRecorder) {
	t.Helper()
	sender := &recordingSender{}
	logs := &logRecorder{}
	handlers, err := app.NewEventHandlers(defaultFlows(t), sender)
	require.NoError(t, err)
	c, err := app.NewConsumeEvent(slog.New(logs), maxBody, handlers...)
	require.NoError(t, err)
	return c, sender, logs
}
