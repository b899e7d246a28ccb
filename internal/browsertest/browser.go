// Package browsertest drives a headless Chromium from tests: what a person
// looks at (emails, pages, the console) is checked in a real browser,
// screenshotted, and linted for accessibility with axe-core.
package browsertest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/notifier/notifier/internal/testenv"
)

// Browser starts a headless Chromium (Debian's chromium package, or the
// one NOTIFIER_TEST_CHROMIUM names) for the test and returns a context to
// drive it with chromedp; it stops with the test. Without Chromium the test
// is skipped, or fails under NOTIFIER_REQUIRE_SERVICES=1 (.ci/run installs
// it).
func Browser(t testing.TB) context.Context {
	t.Helper()
	path := os.Getenv("NOTIFIER_TEST_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		testenv.Unavailable(t, "Chromium (apt-get install chromium)", errors.New("not found in PATH"))
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1024, 900),
		chromedp.Flag("lang", "ru-RU"),
		chromedp.Flag("accept-lang", "ru-RU,ru"), // the cinema's language; a test may ask for another
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, which lives as long as the context
	// of that run: no timeout on it, only on what follows.
	if err := chromedp.Do(browserCtx); err != nil {
		testenv.Unavailable(t, "Chromium at "+path, err)
	}
	ctx, cancelTimeout := context.WithTimeout(browserCtx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// Screenshot saves a full-page PNG of what the browser shows as name in
// the test's artifact directory (go test -artifacts keeps it; see
// README "Browser tests") and returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := artifactDir(t)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// artifactDir is t.ArtifactDir for a *testing.T, else a temporary one.
func artifactDir(t testing.TB) string {
	if a, ok := t.(interface{ ArtifactDir() string }); ok {
		return a.ArtifactDir()
	}
	return t.TempDir()
}
