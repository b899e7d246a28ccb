package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
)

// binary is the notifier command, built once for the package.
var binary string

func TestMain(m *testing.M) { testenv.RunWithBinary(m, ".", &binary) }

// goInternals matches what must never reach an operator: source files,
// closures, import paths and fx's and dig's names.
var goInternals = regexp.MustCompile(`\.go:\d+|func\d+|github\.com/|fx\.|dig\.`)

// processEnv is the environment of a notifier process: vars and nothing of
// the test's own NOTIFIER_* settings.
func processEnv(vars map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// runBinary runs the notifier with args and vars until it exits, and
// returns its exit status and its stderr.
func runBinary(t *testing.T, vars map[string]string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = processEnv(vars)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run notifier: %v", err)
	}
	assert.Empty(t, stdout.String(), "messages go to stderr")
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// configFile writes a NOTIFIER_CONFIG file and returns its path.
func configFile(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notifier.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

func TestABadSettingStopsTheStartWithOneLinePerProblemAndStatus2(t *testing.T) {
	cases := map[string]struct {
		vars map[string]string
		file string   // NOTIFIER_CONFIG's content, if any
		want []string // the start of each problem line, in order
	}{
		"bad token": {
			vars: map[string]string{"NOTIFIER_API_TOKENS": "service:short"},
			want: []string{"NOTIFIER_API_TOKENS: entry 1 (role service): token shorter than 8 characters"},
		},
		"unknown transport": {
			vars: map[string]string{"NOTIFIER_TRANSPORT": "kafka"},
			want: []string{`NOTIFIER_TRANSPORT: unknown transport "kafka"`},
		},
		"bad duration in the file": {
			file: "http:\n  read_timeout: soon\n",
			want: []string{`http.read_timeout: "soon" is not a duration`},
		},
		"unknown key in the file": {
			file: "http:\n  raed_timeout: 1s\n",
			want: []string{"http.raed_timeout: unknown key"},
		},
		"bad upstreams": {
			vars: map[string]string{"NOTIFIER_UPSTREAMS": "auth=ftp://auth.example"},
			want: []string{`NOTIFIER_UPSTREAMS: auth: base url "ftp://auth.example": want an absolute http or https url`},
		},
		"missing templates dir": {
			vars: map[string]string{"NOTIFIER_TEMPLATES_DIR": "/nonexistent-templates"},
			want: []string{"NOTIFIER_TEMPLATES_DIR: /nonexistent-templates does not exist"},
		},
		"unknown log level": {
			vars: map[string]string{"NOTIFIER_LOG_LEVEL": "loud"},
			want: []string{`NOTIFIER_LOG_LEVEL: "loud" is not debug, info, warn or error`},
		},
		"a module's setting": {
			file: "delivery:\n  workers:\n    bulk: 0\n",
			want: []string{"delivery.workers.bulk: 0, at least 1 needed"},
		},
		"tracing settings, with the configuration's": {
			vars: map[string]string{"NOTIFIER_LOG_LEVEL": "loud", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_SAMPLER": "sometimes"},
			want: []string{
				"NOTIFIER_LOG_LEVEL: ",
				`OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported`,
				`OTEL_TRACES_SAMPLER: "sometimes" is not a sampler`,
			},
		},
		"several problems at once": {
			vars: map[string]string{"NOTIFIER_TRANSPORT": "kafka", "NOTIFIER_LOG_LEVEL": "loud", "NOTIFIER_API_TOKENS": "admin:"},
			file: "posting:\n  inline_context_max: 0\n",
			want: []string{
				"NOTIFIER_TRANSPORT: ",
				"NOTIFIER_API_TOKENS: entry 1 (role admin): empty token",
				"posting.inline_context_max: 0, at least 1 byte needed",
				"NOTIFIER_LOG_LEVEL: ",
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			for k, v := range tc.vars {
				vars[k] = v
			}
			if tc.file != "" {
				vars["NOTIFIER_CONFIG"] = configFile(t, tc.file)
			}
			code, stderr := runBinary(t, vars, "serve")
			assert.Equal(t, 2, code, stderr)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			require.Len(t, lines, 1+len(tc.want), stderr)
			assert.Equal(t, "notifier: configuration:", lines[0])
			for i, want := range tc.want {
				assert.True(t, strings.HasPrefix(lines[1+i], "  "+want), "line %d is %q, want %q…", 1+i, lines[1+i], want)
			}
			assert.NotRegexp(t, goInternals, stderr)
		})
	}
}

func TestMigrateWithABadDatabaseURLSaysSoWithStatus2(t *testing.T) {
	code, stderr := runBinary(t, map[string]string{"NOTIFIER_DATABASE_URL": "mysql://db.example/notifier"}, "migrate")
	assert.Equal(t, 2, code, stderr)
	assert.Equal(t, "notifier: configuration:\n"+
		"  NOTIFIER_DATABASE_URL: not a PostgreSQL URL or key=value string: failed to parse as keyword/value (invalid keyword/value)\n", stderr)
}

// refusingDatabase is a PostgreSQL URL on a port nothing listens on.
func refusingDatabase(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "postgres://postgres@" + addr + "/test?connect_timeout=5"
}

func TestADatabaseThatRefusesFailsTheStartWithItsCauseInWords(t *testing.T) {
	t.Parallel()
	code, stderr := runBinary(t, map[string]string{
		"NOTIFIER_TRANSPORT":       "sql",
		"NOTIFIER_DATABASE_URL":    refusingDatabase(t),
		"NOTIFIER_UPSTREAMS":       "auth=http://127.0.0.1:1",
		"NOTIFIER_API_TOKENS":      "service:abcdefgh12",
		"NOTIFIER_PUBLIC_URL":      "https://notifier.example.com",
		"NOTIFIER_UNSUBSCRIBE_KEY": "process-test-unsubscribe-key-32-bytes!",
		"NOTIFIER_HTTP_ADDR":       "127.0.0.1:0",
	}, "serve")
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "notifier: start: ping database: ")
	assert.Contains(t, stderr, "connection refused")
	assert.NotRegexp(t, goInternals, stderr)

	code, stderr = runBinary(t, map[string]string{"NOTIFIER_DATABASE_URL": refusingDatabase(t)}, "migrate")
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "notifier: ping database: ")
	assert.NotRegexp(t, goInternals, stderr)
}

func TestAPortInUseFailsTheStartWithItsCauseInWords(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	code, stderr := runBinary(t, map[string]string{"NOTIFIER_HTTP_ADDR": ln.Addr().String()}, "serve")
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "notifier: start: http server: ")
	assert.Contains(t, stderr, "address already in use")
	assert.NotRegexp(t, goInternals, stderr)
}

// startBinary starts notifier serve with vars and waits until its API
// answers on addr; it is stopped when the test ends.
func startBinary(t *testing.T, vars map[string]string, addr string) {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = processEnv(vars)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz") //nolint:noctx // a probe
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	select {
	case <-exited:
		t.Fatalf("notifier exited: %s", logs.String())
	default:
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestTheConfiguredHTTPTimeoutsCutOffSlowAndIdleClients(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	startBinary(t, map[string]string{
		"NOTIFIER_HTTP_ADDR": addr,
		"NOTIFIER_CONFIG":    configFile(t, "http:\n  read_timeout: 300ms\n  idle_timeout: 300ms\n"),
	}, addr)

	t.Run("an idle keep-alive connection is closed", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		// Far below the default idle timeout (2m).
		require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
		_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: notifier\r\n\r\n")
		require.NoError(t, err)
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, err = r.ReadByte()
		require.ErrorIs(t, err, io.EOF, "the server closes the idle connection")
	})

	t.Run("a body sent too slowly is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		// Below Huma's own 5s body deadline, which the server's replaces.
		require.NoError(t, conn.SetDeadline(time.Now().Add(4*time.Second)))
		_, err = io.WriteString(conn, "POST /api/v1/events HTTP/1.1\r\nHost: notifier\r\n"+
			"Authorization: Bearer dev-service-token\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"event\":")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, "the server answers before the client gives up")
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	})
}
