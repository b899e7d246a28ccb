// Package e2e runs the notifier binary as separate processes against the
// real RabbitMQ, PostgreSQL, directory and SMTP server, to prove what only
// processes can show: a crash without a graceful stop, and several
// instances sharing one broker and one database.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/demodirectory"
)

const serviceToken = "e2e-service-token"

var binary string

func TestMain(m *testing.M) { testenv.RunWithBinary(m, "../cmd/notifier", &binary) }

// world is what the instances share: broker names, a schema, a directory
// of users and an SMTP sink.
type world struct {
	env  map[string]string
	sink *testenv.SMTPSink
}

func newWorld(t *testing.T, users int) *world {
	t.Helper()
	amqpURL := testenv.AMQPURL(t)
	dbURL, _ := testenv.Schema(t)
	data, err := demodirectory.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	data.Users = demodirectory.GenerateUsers(users)
	auth := httptest.NewServer(demodirectory.NewAuth(data))
	t.Cleanup(auth.Close)
	fastapi := httptest.NewServer(demodirectory.NewFastAPI(data))
	t.Cleanup(fastapi.Close)
	sink := testenv.StartSMTPSink(t)
	prefix := testenv.AMQPPrefix(t, amqpURL)
	return &world{sink: sink, env: map[string]string{
		"NOTIFIER_TRANSPORT":           "amqp",
		"NOTIFIER_AMQP_URL":            amqpURL,
		"NOTIFIER_AMQP_PREFIX":         prefix,
		"NOTIFIER_EXCHANGES":           prefix + ".events",
		"NOTIFIER_DATABASE_URL":        dbURL,
		"NOTIFIER_AUTO_MIGRATE":        "true",
		"NOTIFIER_UPSTREAMS":           "auth=" + auth.URL + ",fastapi=" + fastapi.URL,
		"NOTIFIER_SMTP_ADDR":           sink.Addr(),
		"NOTIFIER_SMTP_TLS":            "none",
		"NOTIFIER_API_TOKENS":          "service:" + serviceToken,
		"NOTIFIER_DIRECTORY_PAGE_SIZE": "100",
		"NOTIFIER_LOG_LEVEL":           "info",
		"NOTIFIER_PUBLIC_URL":          "https://notifier.test",
		"NOTIFIER_UNSUBSCRIBE_KEY":     "e2e-unsubscribe-key-of-at-least-32-bytes",
	}}
}

// instance is one notifier process.
type instance struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer = testenv.SyncBuffer

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs an instance and waits until it is ready.
func (w *world) start(t *testing.T) *instance {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "NOTIFIER_HTTP_ADDR="+addr)
	for k, v := range w.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	in := &instance{t: t, cmd: cmd, url: "http://" + addr, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = in.logs, in.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		in.kill()
		if t.Failed() {
			t.Logf("instance %s log:\n%s", in.url, tail(in.logs.String(), 60))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-in.done:
			t.Fatalf("instance exited at start:\n%s", in.logs.String())
		default:
		}
		if resp, err := http.Get(in.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("instance not ready:\n%s", in.logs.String())
	return nil
}

// kill ends the process at once, as a crash would: no graceful stop.
func (in *instance) kill() {
	if in.cmd.Process != nil {
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-in.done
}

// stop asks the process to stop (SIGTERM) and returns its exit code.
func (in *instance) stop(t *testing.T) int {
	t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.done:
		return in.cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		t.Fatal("the instance did not stop within a minute of SIGTERM")
		return -1
	}
}

func tail(s string, lines int) string {
	all := strings.Split(s, "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (in *instance) call(method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, in.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+serviceToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

// createMailing posts a mailing to every active user and returns its id.
func (in *instance) createMailing(t *testing.T) string {
	t.Helper()
	status, out, err := in.call(http.MethodPost, "/api/v1/postings", map[string]any{
		"receivers":        "http://auth/api/v1/users/?is_active=True",
		"template":         "email/new_movies.md",
		"delivery_type":    []string{"email"},
		"template_context": map[string]any{"movies": []any{map[string]any{"title": "Чебурашка"}}},
	})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create mailing: %d %v %v", status, out, err)
	}
	return out["id"].(string)
}

// waitCompleted polls a posting until it is completed and returns its
// counters.
func (in *instance) waitCompleted(t *testing.T, id string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	var last map[string]any
	for time.Now().Before(deadline) {
		status, out, err := in.call(http.MethodGet, "/api/v1/postings/"+id, nil)
		if err == nil && status == http.StatusOK {
			last = out
			if out["status"] == "completed" {
				return out["counters"].(map[string]any)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("posting %s not completed: %v", id, last)
	return nil
}

// perRecipient counts what the sink got for each address, and the
// distinct Message-IDs of each.
func perRecipient(msgs []testenv.SMTPMessage) (count map[string]int, ids map[string]map[string]bool) {
	count, ids = map[string]int{}, map[string]map[string]bool{}
	for _, m := range msgs {
		for _, to := range m.To {
			count[to]++
			if ids[to] == nil {
				ids[to] = map[string]bool{}
			}
			ids[to][m.MessageID] = true
		}
	}
	return count, ids
}
