package app

import (
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"sessiond/models/testdb"
)

// serveProcess is the real `serve` in a process of its own — this test
// binary, which TestMain turns into the command — for tests that signal
// it or run it under limits.
type serveProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	stderr testdb.SyncBuffer
	exited chan error
}

// startServe starts cmd (this test binary, perhaps behind a wrapper such
// as ulimit) serving on addr with env added; it is killed when the test
// ends if it is still running.
func startServe(t *testing.T, cmd *exec.Cmd, addr string, env ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{t: t, cmd: cmd, addr: addr, exited: make(chan error, 1)}
	cmd.Env = append(append(os.Environ(), "SESSIOND_SERVE_HELPER=1", "LISTEN_ADDR="+addr), env...)
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return p
}

var serveClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get reports whether GET path answers 200.
func (p *serveProcess) get(path string) bool {
	resp, err := serveClient.Get("http://" + p.addr + path)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (p *serveProcess) healthy() bool { return p.get("/healthz") }

// waitFor polls ok for up to 15 s; the process exiting meanwhile fails the test.
func (p *serveProcess) waitFor(what string, ok func() bool) {
	p.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-p.exited:
			p.t.Fatalf("server exited (%v) waiting for %s:\n%s", err, what, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %s after 15 s:\n%s", what, p.stderr.String())
		}
	}
}

// stop sends sig and wants exit status 0 within 30 s.
func (p *serveProcess) stop(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	p.wait()
}

// wait wants the process to end with status 0 within 30 s.
func (p *serveProcess) wait() {
	p.t.Helper()
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Fatalf("server ended with %v, want exit 0:\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		p.t.Fatal("server did not stop")
	}
}
