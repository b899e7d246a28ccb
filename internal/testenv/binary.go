package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RunWithBinary is a TestMain body for packages that run the notifier
// command as a process: it builds the Go package pkg (a path relative to
// the test's package, such as "." or "../cmd/notifier") once, sets *binary
// to the executable, runs the tests and removes it. It does not return.
func RunWithBinary(m *testing.M, pkg string, binary *string) {
	dir, err := os.MkdirTemp("", "notifier-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = filepath.Join(dir, "notifier")
	build := exec.Command("go", "build", "-o", *binary, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build notifier:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
