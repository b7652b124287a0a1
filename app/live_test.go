package app

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sessiond/models"
)

// liveServer runs a test app on a real loopback port, for browsers,
// proxies and load generators. It stops when the test ends.
func liveServer(t testing.TB, db *models.DB, env map[string]string, with ...func(*Options)) (*testApp, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return liveServerOn(t, ln, db, env, with...)
}

// liveServerOn is liveServer on a listener the test opened, for a BASE_URL
// that names the port under another host name.
func liveServerOn(t testing.TB, ln net.Listener, db *models.DB, env map[string]string, with ...func(*Options)) (*testApp, string) {
	t.Helper()
	base := "http://" + ln.Addr().String()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["BASE_URL"]; !ok {
		env["BASE_URL"] = base
	}
	a := newTestApp(t, db, env, with...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
	})
	return a, base
}

// chromiumPath finds Debian's chromium; without it browser tests skip,
// unless SESSIOND_REQUIRE_BROWSER=1 makes that a failure.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SESSIOND_REQUIRE_BROWSER") == "1" {
		t.Fatal("Chromium required (SESSIOND_REQUIRE_BROWSER=1) but not found: apt-get install -y chromium")
	}
	t.Skip("Chromium not installed (apt-get install -y chromium); set SESSIOND_REQUIRE_BROWSER=1 to fail instead")
	return ""
}

// htmxIdle is true once no htmx request, swap or settle is under way: the
// moment a test may click what the last swap put in.
const htmxIdle = `!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')`

// newBrowser starts headless Chromium with a fresh profile and returns a
// context for chromedp actions. Each call is a separate browser, so two
// calls are two devices with separate cookie jars. extra adds options
// (flags such as host-resolver-rules).
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	path := chromiumPath(t)
	// Not t.TempDir: Chromium's helper processes may still be writing the
	// profile for a moment after the browser exits, and TempDir's cleanup
	// fails the test on "directory not empty". Removed with retries below.
	profile, err := os.MkdirTemp("", "sessiond-chromium-*")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// browserLogin signs in through the real form.
func browserLogin(base, email, password string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(base + "/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`.user-menu`, chromedp.ByQuery),
	}
}
