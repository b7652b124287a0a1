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

	"sessiond/models/testdb"
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
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SESSIOND_SERVE_HELPER=1", "LISTEN_ADDR="+addr,
		"DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "hup.db"), "CLEANUP_SCHEDULE=off", "LOG_LEVEL_FILE="+levelFile,
		"AUTH_SECRET=hup-test-secret-hup-test-secret-0123456789")
	var stderr testdb.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) bool {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			select {
			case err := <-exited:
				t.Fatalf("server exited (%v) waiting for %s:\n%s", err, what, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s after 15 s:\n%s", what, stderr.String())
			}
		}
	}
	logged := func(s string) func() bool { return func() bool { return strings.Contains(stderr.String(), s) } }

	waitFor("a healthy server", func() bool { return get("/healthz") })
	get("/readyz")
	if strings.Contains(stderr.String(), "msg=request") {
		t.Fatalf("access lines at LOG_LEVEL=warn:\n%s", stderr.String())
	}
	setLevel("info")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitFor("the reload", logged("settings reloaded"))
	get("/readyz")
	waitFor("an access line at info after SIGHUP", logged("path=/readyz"))

	setLevel("loud")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitFor("a refused reload", logged("reload refused"))
	if !get("/healthz") {
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
	_ = cmd.Process.Signal(syscall.SIGTERM)
	waitFor("the drain", logged("shutting down"))
	if _, err := conn.Write([]byte("Connection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the request under way at SIGTERM: %v %v", resp, err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not exit after SIGTERM")
	}
}
