package app

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// wantPriority is what the CLI's cleanup reports on this OS.
const wantPriority = "idle (SCHED_IDLE)"

// threadPolicy is the scheduling policy of the thread tid (0: the caller's).
func threadPolicy(t *testing.T, tid int) uint32 {
	t.Helper()
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		t.Fatalf("sched_getattr %d: %v", tid, err)
	}
	return attr.Policy
}

// onIdle reports whether the calling goroutine runs on a SCHED_IDLE thread.
func onIdle(t *testing.T) bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return threadPolicy(t, 0) == unix.SCHED_IDLE
}

func TestOnIdleThread_RunsAtIdlePriority_NoOtherGoroutineEver(t *testing.T) {
	var got string
	var policy uint32
	onIdleThread(func(priority string) {
		got, policy = priority, threadPolicy(t, 0)
		// A goroutine started from the idle thread runs elsewhere.
		done := make(chan bool)
		go func() { done <- onIdle(t) }()
		if <-done {
			t.Errorf("a goroutine started by fn ran on an idle thread")
		}
	})
	if got != wantPriority || policy != unix.SCHED_IDLE {
		t.Fatalf("priority %q, policy %d; want %q (policy %d)", got, policy, wantPriority, unix.SCHED_IDLE)
	}
	// The thread ends with fn (or, if it was the main thread, which may not
	// exit, is parked for good): no goroutine runs on it afterwards.
	var wg sync.WaitGroup
	var idle atomic.Int32
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Millisecond) // let the runtime spread them over its threads
			if onIdle(t) {
				idle.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := idle.Load(); n > 0 {
		t.Fatalf("%d goroutines ran on an idle thread after onIdleThread returned", n)
	}
}

func TestOnIdleThread_PanicReachesTheCaller(t *testing.T) {
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want boom", r)
		}
	}()
	onIdleThread(func(string) { panic("boom") })
	t.Fatal("no panic")
}
