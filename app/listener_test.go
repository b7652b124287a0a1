package app

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sessiond/models/testdb"
)

// A flood of connections past the process's file limit must not stop the
// server: the real `serve`, run by this test binary under `ulimit -n 64`,
// is held at its limit by 120 idle connections, says it is retrying, and
// answers again once they are gone. (fasthttp alone returns from Serve on
// the first EMFILE and the process exits.)
func TestServe_OutOfFileDescriptors_RetriesAndServesOn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process; skipped in -short mode")
	}
	addr := "127.0.0.1:" + freePort(t)
	cmd := exec.Command("sh", "-c", `ulimit -n 64 && exec "$0"`, os.Args[0]) // TestMain serves (SESSIOND_SERVE_HELPER)
	cmd.Env = append(os.Environ(), "SESSIOND_SERVE_HELPER=1", "LISTEN_ADDR="+addr,
		"DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "fd.db"), "CLEANUP_SCHEDULE=off", "LOG_LEVEL=warn",
		"AUTH_SECRET=fd-test-secret-fd-test-secret-0123456789")
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
	healthy := func() bool {
		resp, err := client.Get("http://" + addr + "/healthz")
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
	waitFor("first answer", healthy)

	var conns []net.Conn
	for range 120 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // the backlog is full too: the server is past its limit either way
		}
		conns = append(conns, c)
	}
	waitFor("retry warning", func() bool { return strings.Contains(stderr.String(), "retrying") })
	for _, c := range conns {
		c.Close()
	}
	waitFor("answer after the flood", healthy)

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("server ended with %v:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop on SIGINT")
	}
}
