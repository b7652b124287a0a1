package app

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// onIdleThread runs fn on an OS thread of its own at the lowest CPU
// priority Linux has and waits for it, telling fn which priority it got.
//
// The CLI's cleanup uses it: on SQLite the deletes run on this process's
// CPU, and beside a server on two cores a chunk at normal priority makes
// requests wait for a core. SCHED_IDLE hands the core to any other task
// the moment it is ready (`chrt --idle 0` does the same to a whole
// process); where a sandbox refuses it, nice 19 is the next best. Either
// needs no privilege. The thread is never unlocked, so it ends with fn
// (or, if it was the main thread, which may not end, is parked for good)
// and its priority never reaches the runtime's other goroutines; threads
// the runtime starts meanwhile come from its template thread, at normal
// priority.
//
// The server does not use it for its own scheduled cleanup: a starved
// thread holding a P holds up the garbage collector's stop-the-world and
// with it every request (with two CPU hogs beside the server, lookup p99
// went from 9.9 ms to 217 ms when its cleanup ran here).
func onIdleThread(fn func(priority string)) {
	done := make(chan any)
	go func() {
		var panicked any
		defer func() { done <- panicked }()
		defer func() { panicked = recover() }()
		runtime.LockOSThread()
		fn(lowerThreadPriority())
	}()
	if p := <-done; p != nil {
		panic(p)
	}
}

// lowerThreadPriority moves the calling thread to SCHED_IDLE, or failing
// that to nice 19.
func lowerThreadPriority() string {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	if unix.SchedSetAttr(0, &attr, 0) == nil {
		return "idle (SCHED_IDLE)"
	}
	if unix.Setpriority(unix.PRIO_PROCESS, 0, 19) == nil { // who 0: this thread on Linux
		return "nice 19"
	}
	return "normal"
}
