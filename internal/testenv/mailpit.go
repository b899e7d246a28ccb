package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MailpitInstall is how to install the Mailpit binary that Mailpit looks for.
const MailpitInstall = "scripts/install-mailpit.sh (go install github.com/axllent/mailpit@v1.33.1)"

// How long Mailpit may take to answer after starting, to stop, and to show
// the messages a test waits for.
const (
	mailpitStartTimeout = 30 * time.Second
	mailpitStopTimeout  = 10 * time.Second
	mailpitWaitTimeout  = 15 * time.Second
)

// MailpitServer is a Mailpit process of one test's own: an SMTP server on a
// free loopback port that keeps every message it accepts, and its HTTP API
// to read them back. It stops when the test ends.
type MailpitServer struct {
	bin     string
	args    []string
	dir     string
	smtp    string
	api     string
	client  *http.Client
	logPath string

	mu   sync.Mutex
	proc *mailpitProcess
}

// mailpitProcess is one run of the binary; exited is closed when it ends.
type mailpitProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // what Wait returned, set before exited is closed
}

// MailpitAddress is a mailbox as Mailpit shows it.
type MailpitAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// MailpitMessage is a message in Mailpit's list (GET /api/v1/messages).
type MailpitMessage struct {
	// ID is Mailpit's own identifier, for Message.
	ID string `json:"ID"`
	// MessageID is the Message-ID header without its angle brackets.
	MessageID string           `json:"MessageID"`
	From      MailpitAddress   `json:"From"`
	To        []MailpitAddress `json:"To"`
	// Subject is decoded (RFC 2047 words turned back into UTF-8).
	Subject string    `json:"Subject"`
	Created time.Time `json:"Created"`
	Size    int       `json:"Size"`
	Snippet string    `json:"Snippet"`
}

// MailpitDetail is one message in full (GET /api/v1/message/{ID} and
// GET /api/v1/message/{ID}/headers).
type MailpitDetail struct {
	ID         string           `json:"ID"`
	MessageID  string           `json:"MessageID"`
	From       MailpitAddress   `json:"From"`
	To         []MailpitAddress `json:"To"`
	Cc         []MailpitAddress `json:"Cc"`
	ReturnPath string           `json:"ReturnPath"`
	Subject    string           `json:"Subject"`
	Date       time.Time        `json:"Date"`
	// Text and HTML are the decoded text/plain and text/html parts, empty
	// when the message has no such part.
	Text string `json:"Text"`
	HTML string `json:"HTML"`
	// Headers are the raw top-level headers (subject still encoded);
	// Headers.Get takes any capitalisation.
	Headers textproto.MIMEHeader `json:"-"`
}

// Mailpit starts a Mailpit of t's own with a database in t.TempDir(), SMTP
// (no TLS, no authentication) and the HTTP API on free loopback ports, and
// stops it when t ends. flags are added to Mailpit's command line, such as
// "--smtp-allowed-recipients", `@example\.com$`. A missing binary (see
// MailpitInstall) skips t loudly, or fails it when
// NOTIFIER_REQUIRE_SERVICES=1.
func Mailpit(t testing.TB, flags ...string) *MailpitServer {
	t.Helper()
	bin, err := mailpitBinary()
	if err != nil {
		Unavailable(t, "Mailpit", err)
	}
	dir := t.TempDir()
	m := &MailpitServer{
		bin:     bin,
		args:    flags,
		dir:     dir,
		client:  &http.Client{Timeout: 10 * time.Second},
		logPath: filepath.Join(dir, "mailpit.log"),
	}
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			m.logTail(t)
		}
	})
	// A port found free may be taken before Mailpit binds it: then Mailpit
	// exits at once, and other ports are worth a try.
	var lastErr error
	for range 3 {
		m.smtp, m.api = freeLoopbackAddr(t), freeLoopbackAddr(t)
		if lastErr = m.start(); lastErr == nil {
			return m
		}
	}
	t.Fatalf("start mailpit: %v", lastErr)
	return nil
}

// SMTPAddr is the host:port of Mailpit's SMTP server.
func (m *MailpitServer) SMTPAddr() string { return m.smtp }

// APIURL is the base URL of Mailpit's web UI and API, such as
// "http://127.0.0.1:40123".
func (m *MailpitServer) APIURL() string { return "http://" + m.api }

// Stop stops Mailpit as a crashing or restarting mail server would go away:
// its SMTP connections close and it refuses new ones until Start. Stopping a
// stopped Mailpit does nothing.
func (m *MailpitServer) Stop(t testing.TB) {
	t.Helper()
	if err := m.stop(); err != nil {
		t.Logf("stop mailpit: %v", err)
	}
}

// Start starts a stopped Mailpit again on the same ports and database, so
// the messages it had accepted are still there.
func (m *MailpitServer) Start(t testing.TB) {
	t.Helper()
	if err := m.start(); err != nil {
		t.Fatalf("restart mailpit: %v", err)
	}
}

// Messages returns every message Mailpit holds, oldest first.
func (m *MailpitServer) Messages(t testing.TB) []MailpitMessage {
	t.Helper()
	msgs, err := m.messages()
	if err != nil {
		t.Fatalf("mailpit messages: %v", err)
	}
	return msgs
}

// Message returns the message with Mailpit's id, with its parts and headers.
func (m *MailpitServer) Message(t testing.TB, id string) MailpitDetail {
	t.Helper()
	var d MailpitDetail
	if err := m.getJSON("/api/v1/message/"+url.PathEscape(id), &d); err != nil {
		t.Fatalf("mailpit message %s: %v", id, err)
	}
	var h map[string][]string
	if err := m.getJSON("/api/v1/message/"+url.PathEscape(id)+"/headers", &h); err != nil {
		t.Fatalf("mailpit message %s headers: %v", id, err)
	}
	d.Headers = textproto.MIMEHeader{}
	for k, vs := range h {
		for _, v := range vs {
			d.Headers.Add(k, v)
		}
	}
	return d
}

// WaitForMessages waits until Mailpit holds at least n messages and returns
// them all, oldest first; it fails t, naming what did arrive, when they do
// not within 15 seconds.
func (m *MailpitServer) WaitForMessages(t testing.TB, n int) []MailpitMessage {
	t.Helper()
	deadline := time.Now().Add(mailpitWaitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		msgs, err := m.messages()
		if err == nil && len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("mailpit: waiting for %d messages: %v", n, err)
			}
			subjects := make([]string, len(msgs))
			for i, msg := range msgs {
				subjects[i] = fmt.Sprintf("%q", msg.Subject)
			}
			t.Fatalf("mailpit: %d messages arrived within %s, want %d: %s",
				len(msgs), mailpitWaitTimeout, n, strings.Join(subjects, ", "))
		}
		<-tick.C
	}
}

func (m *MailpitServer) messages() ([]MailpitMessage, error) {
	var page struct {
		Total    int              `json:"total"`
		Messages []MailpitMessage `json:"messages"`
	}
	// Mailpit keeps 500 messages by default; one page holds them all.
	if err := m.getJSON("/api/v1/messages?limit=1000", &page); err != nil {
		return nil, err
	}
	if page.Total > len(page.Messages) {
		return nil, fmt.Errorf("mailpit holds %d messages, more than one page of %d", page.Total, len(page.Messages))
	}
	slices.Reverse(page.Messages) // Mailpit lists the newest first
	return page.Messages, nil
}

func (m *MailpitServer) getJSON(path string, v any) error {
	resp, err := m.client.Get(m.APIURL() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// start runs the binary and waits until both its SMTP server and its API
// answer, or it exits.
func (m *MailpitServer) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		return errors.New("mailpit is already running")
	}
	logFile, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	args := append([]string{
		"--smtp", m.smtp,
		"--listen", m.api,
		"--database", filepath.Join(m.dir, "mailpit.db"),
		"--disable-version-check", // no calls home
		"--smtp-disable-rdns",     // no DNS look-ups of the client
	}, m.args...)
	cmd := exec.Command(m.bin, args...)
	cmd.Env = withoutMailpitEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", m.bin, err)
	}
	p := &mailpitProcess{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()

	deadline := time.Now().Add(mailpitStartTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !m.answers() {
		select {
		case <-p.exited:
			return fmt.Errorf("mailpit exited before answering (%v); its output: %s", p.err, m.tail())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-p.exited
			return fmt.Errorf("mailpit did not answer within %s; its output: %s", mailpitStartTimeout, m.tail())
		}
	}
	// A port taken by another process between freeLoopbackAddr and the
	// bind fools answers when that process answers on it (another test's
	// Mailpit): this one then exits right after it started its API.
	select {
	case <-p.exited:
		return fmt.Errorf("mailpit exited after it answered (%v); its output: %s", p.err, m.tail())
	case <-time.After(150 * time.Millisecond):
	}
	if !m.answers() {
		_ = cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("mailpit stopped answering; its output: %s", m.tail())
	}
	m.proc = p
	return nil
}

// answers reports whether both the SMTP server accepts connections and the
// API is ready.
func (m *MailpitServer) answers() bool {
	conn, err := net.DialTimeout("tcp", m.smtp, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	resp, err := m.client.Get(m.APIURL() + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop asks Mailpit to shut down, then kills it if it lingers.
func (m *MailpitServer) stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if p == nil {
		return nil
	}
	m.proc = nil
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(mailpitStopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("mailpit did not stop within %s and was killed", mailpitStopTimeout)
	}
}

// tail is the end of Mailpit's output, for failure messages.
func (m *MailpitServer) tail() string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return err.Error()
	}
	const keep = 4000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(bytes.TrimSpace(b))
}

func (m *MailpitServer) logTail(t testing.TB) {
	t.Logf("mailpit output (%s):\n%s", m.logPath, m.tail())
}

// withoutMailpitEnv drops Mailpit's MP_* settings, which would otherwise
// change the test's server.
func withoutMailpitEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "MP_") })
}

// freeLoopbackAddr returns a 127.0.0.1 address whose port was free a moment
// ago.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

var mailpitBinary = sync.OnceValues(func() (string, error) {
	return findMailpit(os.Getenv("GOBIN"), build.Default.GOPATH)
})

// findMailpit looks for the mailpit binary in PATH, then in gobin, then in
// the bin directory of each GOPATH entry (where go install puts it).
func findMailpit(gobin, gopath string) (string, error) {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, dir := range filepath.SplitList(gopath) {
		if dir != "" {
			dirs = append(dirs, filepath.Join(dir, "bin"))
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "mailpit")
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no mailpit in PATH nor in %s; install it with %s",
		strings.Join(dirs, ", "), MailpitInstall)
}
