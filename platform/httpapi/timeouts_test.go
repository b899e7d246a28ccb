package httpapi_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/httpapi"
)

// startServer starts s on a free loopback port and returns its address.
func startServer(t *testing.T, s *httpapi.Server) string {
	t.Helper()
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { _ = s.Stop(t.Context()) })
	return s.Addr()
}

func TestABodySentTooSlowlyIsCutOffAfterTheReadTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{Addr: "127.0.0.1:0", ReadTimeout: 200 * time.Millisecond})
	s.Handle("POST /upload", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	addr := startServer(t, s)

	for path, token := range map[string]string{"/upload": "", "/things": serviceToken} {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		// Far below the default read timeout (30s); a bound, not a measure.
		require.NoError(t, conn.SetDeadline(time.Now().Add(4*time.Second)))
		_, err = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: notifier\r\nAuthorization: Bearer "+token+
			"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, "%s: the server answers instead of waiting for the rest of the body", path)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, path)
		_ = conn.Close()
	}
}

func TestAnIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, httpapi.Config{Addr: "127.0.0.1:0", IdleTimeout: 200 * time.Millisecond})
	addr := startServer(t, s)

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	// Far below the default idle timeout (2m); a bound, not a measure.
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: notifier\r\n\r\n")
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close, "the connection is kept alive")

	_, err = r.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the server closes the connection once idle")
}
