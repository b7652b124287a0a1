package models

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestTouchGroup_TouchesDueMeanwhileAreWrittenAsOneGroup: while one touch
// is written, the touches that fall due wait and are then written together,
// by one of them, and each request gets its own touch's result.
func TestTouchGroup_TouchesDueMeanwhileAreWrittenAsOneGroup(t *testing.T) {
	var g touchGroup
	var mu sync.Mutex
	var groups [][]int64
	release := make(chan struct{})
	gone := errors.New("session gone")
	write := func(group []*lastSeen) {
		var ids []int64
		for _, x := range group {
			ids = append(ids, x.id)
			x.err = nil
			if x.id == 4 {
				x.err = gone
			}
		}
		mu.Lock()
		groups = append(groups, ids)
		first := len(groups) == 1
		mu.Unlock()
		if first {
			<-release
		}
	}
	results := make(map[int64]error)
	var wg sync.WaitGroup
	touch := func(id int64) {
		defer wg.Done()
		err := g.run(&lastSeen{id: id}, write)
		mu.Lock()
		results[id] = err
		mu.Unlock()
	}
	wg.Add(1)
	go touch(1)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(groups) == 1 })
	for id := int64(2); id <= 6; id++ {
		wg.Add(1)
		go touch(id)
	}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.queue) == 5 })
	close(release)
	wg.Wait()

	if len(groups) != 2 || !slices.Equal(groups[0], []int64{1}) || len(groups[1]) != 5 {
		t.Fatalf("groups written: %v; want [1] then the five that queued", groups)
	}
	for id := int64(1); id <= 6; id++ {
		if want := map[bool]error{true: gone, false: nil}[id == 4]; !errors.Is(results[id], want) {
			t.Errorf("touch %d: %v, want %v", id, results[id], want)
		}
	}
	if g.writing || len(g.queue) != 0 {
		t.Fatalf("after the last group: writing=%v, %d queued", g.writing, len(g.queue))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
	}
}

// TestTouchGroup_APanickingWriteLeavesNoOneWaiting: a write that panics
// still ends its group, so later touches are written, not queued forever.
func TestTouchGroup_APanickingWriteLeavesNoOneWaiting(t *testing.T) {
	var g touchGroup
	func() {
		defer func() { _ = recover() }()
		_ = g.run(&lastSeen{id: 1}, func([]*lastSeen) { panic("boom") })
	}()
	done := make(chan error, 1)
	go func() { done <- g.run(&lastSeen{id: 2}, func(group []*lastSeen) { group[0].err = nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the touch after a panic: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the touch after a panic was never written")
	}
}
