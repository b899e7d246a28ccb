package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// notifierProcess is the notifier binary running as a subprocess, its
// output going to a log file.
type notifierProcess struct {
	cmd     *exec.Cmd
	url     string
	token   string
	logPath string
	log     *os.File
	done    chan struct{}
	client  *http.Client
}

// startNotifier runs "binary serve" with env (over this process's
// environment without its NOTIFIER_* and OTEL_* variables, so that nothing
// set in the shell changes the run) on a free loopback port, and waits until /readyz
// answers 200.
func startNotifier(ctx context.Context, binary string, env map[string]string, token, logPath string) (*notifierProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFIER_") && !strings.HasPrefix(kv, "OTEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NOTIFIER_HTTP_ADDR="+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C in the terminal reaches only the
	// bench, which stops the notifier itself after reading its figures.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	p := &notifierProcess{
		cmd: cmd, url: "http://" + addr, token: token, logPath: logPath, log: logFile, done: make(chan struct{}),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	go func() { _ = cmd.Wait(); close(p.done) }()

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("the notifier exited at start (%s); its log %s ends:\n%s", cmd.ProcessState, logPath, tailFile(logPath, 20))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		default:
		}
		if resp, err := p.client.Get(p.url + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("the notifier was not ready within 90 s; its log %s ends:\n%s", logPath, tailFile(logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *notifierProcess) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *notifierProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to 40 s for a graceful exit (the notifier
// drains its batch in flight for up to 20 s), then kills it. It returns
// how the process ended.
func (p *notifierProcess) stop() string {
	defer p.log.Close()
	if p.exited() {
		return p.cmd.ProcessState.String()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.cmd.ProcessState.String()
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return "killed after 40 s without stopping"
	}
}

// call sends one API request with the service token and decodes a JSON
// answer into out (when not nil).
func (p *notifierProcess) call(ctx context.Context, method, path string, header map[string]string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// posting is the part of the posting resource the bench reads.
type posting struct {
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	Error    *string  `json:"error"`
	Counters counters `json:"counters"`
}

// counters are a posting's progress counters.
type counters struct {
	Recipients int `json:"recipients"`
	Skipped    int `json:"skipped"`
	Sent       int `json:"sent"`
	Failed     int `json:"failed"`
	Expired    int `json:"expired"`
	Cancelled  int `json:"cancelled"`
}

// createPosting POSTs a posting with an Idempotency-Key and returns it.
func (p *notifierProcess) createPosting(ctx context.Context, key string, body map[string]any) (posting, error) {
	var out posting
	_, err := p.call(ctx, http.MethodPost, "/api/v1/postings", map[string]string{"Idempotency-Key": key}, body, &out)
	if err == nil && out.ID == "" {
		err = errors.New("create posting: no id in the answer")
	}
	return out, err
}

// getPosting reads a posting.
func (p *notifierProcess) getPosting(ctx context.Context, id string) (posting, error) {
	var out posting
	_, err := p.call(ctx, http.MethodGet, "/api/v1/postings/"+id, nil, nil, &out)
	return out, err
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tailFile returns the last lines of the file at path.
func tailFile(path string, lines int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// fetchCPUProfile takes a CPU profile of d from the net/http/pprof server
// at addr and writes it to path. Idle time adds no samples, so a profile
// that outlasts the mailing still shows where its CPU went.
func fetchCPUProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	seconds := max(1, int(d.Round(time.Second)/time.Second))
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the notifier serves no pprof (NOTIFIER_PPROF_ADDR): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
