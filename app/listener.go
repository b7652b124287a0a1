package app

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// steadyListener keeps accepting through errors that pass, above all
// running out of file descriptors in a flood of connections. fasthttp
// treats every accept error but a timeout as the end of the listener, so
// without it one flood past the file limit (`ulimit -n`) would stop the
// server for good. Like net/http it waits 5 ms, doubling up to 1 s, while
// the error lasts; the connections waiting meanwhile stay in the kernel's
// backlog. Any other error (the listener closed at shutdown) ends Accept
// as before.
type steadyListener struct {
	net.Listener
	log *slog.Logger
}

func (l steadyListener) Accept() (net.Conn, error) {
	var wait time.Duration
	for {
		conn, err := l.Listener.Accept()
		if err == nil || !passing(err) {
			return conn, err
		}
		wait = min(max(2*wait, 5*time.Millisecond), time.Second)
		l.log.Warn("accepting a connection failed; retrying", "error", err, "retry_in", wait)
		time.Sleep(wait)
	}
}

// passing reports whether an accept error goes away by itself: out of
// file descriptors (this process's or the system's) or kernel memory.
func passing(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}
