package app

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cleanupPriorities are the priorities the CLI's cleanup may report on
// this OS: SCHED_IDLE, or nice 19 where a sandbox refuses it.
var cleanupPriorities = []string{"idle (SCHED_IDLE)", "nice 19"}

// threadPriority is the calling thread's priority, named as
// lowerThreadPriority names it.
func threadPriority(t *testing.T) string {
	t.Helper()
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatalf("sched_getattr: %v", err)
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0) // the raw call answers 20 - nice
	if err != nil {
		t.Fatalf("getpriority: %v", err)
	}
	switch {
	case attr.Policy == unix.SCHED_IDLE:
		return "idle (SCHED_IDLE)"
	case 20-prio == 19:
		return "nice 19"
	}
	return "normal"
}

// lowered reports whether the calling goroutine runs on a thread at a
// lowered priority.
func lowered(t *testing.T) bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return threadPriority(t) != "normal"
}

func TestOnIdleThread_RunsAtIdlePriority_NoOtherGoroutineEver(t *testing.T) {
	if lowered(t) {
		t.Skip("this test runs at a lowered priority already; nothing to tell apart")
	}
	var got, actual string
	onIdleThread(func(priority string) {
		got, actual = priority, threadPriority(t)
		// A goroutine started from the idle thread runs elsewhere.
		done := make(chan bool)
		go func() { done <- lowered(t) }()
		if <-done {
			t.Errorf("a goroutine started by fn ran at a lowered priority")
		}
	})
	if !slices.Contains(cleanupPriorities, got) || actual != got {
		t.Fatalf("reported priority %q, the thread had %q; want one of %q", got, actual, cleanupPriorities)
	}
	// The thread ends with fn (or, if it was the main thread, which may not
	// exit, is parked for good): no goroutine runs on it afterwards.
	var wg sync.WaitGroup
	var low atomic.Int32
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Millisecond) // let the runtime spread them over its threads
			if lowered(t) {
				low.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := low.Load(); n > 0 {
		t.Fatalf("%d goroutines ran at a lowered priority after onIdleThread returned", n)
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
