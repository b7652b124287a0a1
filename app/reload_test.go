package app

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary (this test binary as `serve`, wired to signals as main
// is): SIGHUP re-reads LOG_LEVEL from LOG_LEVEL_FILE and refuses a broken
// one without stopping; SIGTERM lets a request under way finish, then the
// process exits 0.
func TestServe_SIGHUPRereadsLogLevel_SIGTERMDrainsAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process; skipped in -short mode")
	}
	addr := "127.0.0.1:" + freePort(t)
	levelFile := filepath.Join(t.TempDir(), "log-level")
	setLevel := func(v string) {
		if err := os.WriteFile(levelFile, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setLevel("warn")
	p := startServe(t, exec.Command(os.Args[0]), addr, "DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "hup.db"),
		"CLEANUP_SCHEDULE=off", "LOG_LEVEL_FILE="+levelFile, "AUTH_SECRET=hup-test-secret-hup-test-secret-0123456789")
	logged := func(s string) func() bool { return func() bool { return strings.Contains(p.stderr.String(), s) } }

	p.waitFor("a healthy server", p.healthy)
	p.get("/readyz")
	if strings.Contains(p.stderr.String(), "msg=request") {
		t.Fatalf("access lines at LOG_LEVEL=warn:\n%s", p.stderr.String())
	}
	setLevel("info")
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor("the reload", logged("settings reloaded"))
	p.get("/readyz")
	p.waitFor("an access line at info after SIGHUP", logged("path=/readyz"))

	setLevel("loud")
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor("a refused reload", logged("reload refused"))
	if !p.healthy() {
		t.Fatal("the server stopped serving after a refused reload")
	}

	// A request under way when SIGTERM comes: its headers half sent.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: sessiond.test\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitFor("the drain", logged("shutting down"))
	if _, err := conn.Write([]byte("Connection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the request under way at SIGTERM: %v %v", resp, err)
	}
	p.wait()
}
