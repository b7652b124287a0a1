package app

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
	cmd := exec.Command("sh", "-c", `ulimit -n 64 && exec "$0"`, os.Args[0])
	p := startServe(t, cmd, addr, "DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "fd.db"), "CLEANUP_SCHEDULE=off",
		"LOG_LEVEL=warn", "AUTH_SECRET=fd-test-secret-fd-test-secret-0123456789")
	p.waitFor("first answer", p.healthy)

	var conns []net.Conn
	for range 120 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // the backlog is full too: the server is past its limit either way
		}
		conns = append(conns, c)
	}
	p.waitFor("retry warning", func() bool { return strings.Contains(p.stderr.String(), "retrying") })
	for _, c := range conns {
		c.Close()
	}
	p.waitFor("answer after the flood", p.healthy)
	p.stop(syscall.SIGINT)
}
