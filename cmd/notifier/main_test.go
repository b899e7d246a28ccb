package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/db"
)

func TestVersionPrintsTheVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"version"}, &out, &errOut, func(string) string { return "" })
	require.Equal(t, 0, code)
	require.Contains(t, out.String(), "notifier ")
}

func TestUnknownCommandFailsWithUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"frobnicate"}, &out, &errOut, func(string) string { return "" })
	require.Equal(t, 2, code)
	require.Contains(t, errOut.String(), "unknown command")
	require.Contains(t, errOut.String(), "notifier serve")
}

func TestServeRefusesBadConfigurationNamingTheSetting(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"NOTIFIER_TRANSPORT": "carrier-pigeon"}
	code := run(context.Background(), []string{"serve"}, &out, &errOut, func(k string) string { return env[k] })
	require.Equal(t, 2, code)
	require.Equal(t, "notifier: configuration:\n  NOTIFIER_TRANSPORT: unknown transport \"carrier-pigeon\" (memory, amqp, sql)\n", errOut.String())
}

// syncBuffer is a bytes.Buffer safe to write from the service's goroutines
// while the test reads it.
type syncBuffer = testenv.SyncBuffer

func TestServeWithNoConfigurationRunsInMemoryAndSaysWhereTheDocsAre(t *testing.T) {
	var out bytes.Buffer
	var logs syncBuffer
	env := map[string]string{"NOTIFIER_HTTP_ADDR": "127.0.0.1:0"} // :8080 may be taken on a test machine
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, &out, &logs, func(k string) string { return env[k] }) }()

	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "/docs") }, 10*time.Second, 10*time.Millisecond)
	require.Contains(t, logs.String(), "transport=memory")
	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	require.Contains(t, logs.String(), "stopping notifier")
}

func TestMigrateAppliesTheMigrationsAndIsIdempotent(t *testing.T) {
	dbURL, schema := testenv.Schema(t)
	env := map[string]string{"NOTIFIER_DATABASE_URL": dbURL}
	for range 2 {
		var out, logs bytes.Buffer
		code := run(context.Background(), []string{"migrate"}, &out, &logs, func(k string) string { return env[k] })
		require.Equal(t, 0, code, logs.String())
		require.Contains(t, logs.String(), "database is up to date")
	}
	pool, err := db.Open(context.Background(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	var tables int
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'processed_messages'", schema).Scan(&tables))
	require.Equal(t, 1, tables)
}

func TestMigrateWithoutADatabaseSaysWhatIsMissing(t *testing.T) {
	var out, logs bytes.Buffer
	code := run(context.Background(), []string{"migrate"}, &out, &logs, func(string) string { return "" })
	require.Equal(t, 2, code)
	require.Equal(t, "notifier: configuration:\n  NOTIFIER_DATABASE_URL (database.url): required by migrate\n", logs.String())
}

func TestPprofIsServedOnItsOwnAddressOnlyWhenAsked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	pprofAddr := ln.Addr().String()
	require.NoError(t, ln.Close())
	var logs syncBuffer
	env := map[string]string{"NOTIFIER_HTTP_ADDR": "127.0.0.1:0", "NOTIFIER_PPROF_ADDR": pprofAddr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, io.Discard, &logs, func(k string) string { return env[k] })
	}()
	defer func() { cancel(); <-done }()

	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "/docs") }, 10*time.Second, 10*time.Millisecond)
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, logs.String(), "pprof is served without authentication")
}

func TestServeCollectsGarbageLessOftenUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	tuneGC(func(string) string { return "" })
	require.Equal(t, gcPercent, debug.SetGCPercent(100))

	tuneGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	require.Equal(t, 100, debug.SetGCPercent(100), "GOGC, when set, has the last word")
}
