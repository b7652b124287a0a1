package jobs

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"sessiond/models/testdb"
)

func newTestScheduler(t *testing.T) (*Scheduler, *testdb.SyncBuffer) {
	t.Helper()
	logs := &testdb.SyncBuffer{}
	s := New(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s, logs
}

func TestScheduler_PanicInJob_IsRecoveredAndTheNextTickRuns(t *testing.T) {
	s, logs := newTestScheduler(t)
	var calls atomic.Int32
	second := make(chan struct{})
	err := s.Add("boom", "@every 1s", func(context.Context) {
		if calls.Add(1) == 1 {
			panic("job exploded")
		}
		select {
		case <-second:
		default:
			close(second)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatalf("no run after the panic (calls=%d); logs:\n%s", calls.Load(), logs)
	}
	if !strings.Contains(logs.String(), "job exploded") {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

func TestScheduler_RunNowAfterPanic_RunsAgain(t *testing.T) {
	s, _ := newTestScheduler(t)
	var calls atomic.Int32
	_ = s.Add("boom", "off", func(context.Context) {
		if calls.Add(1) == 1 {
			panic(errors.New("first run fails"))
		}
	})
	for range 3 {
		if err := s.RunNow("boom"); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("calls = %d, want 3: a panic must release the skip lock", got)
	}
}

// The reason for the chain order: with Recover outside SkipIfStillRunning,
// cron v3.0.1 never gives the skip token back after a panic.
func TestCronChain_RecoverOutsideSkip_WouldSkipForeverAfterAPanic(t *testing.T) {
	l := Logger{slog.New(slog.NewTextHandler(&testdb.SyncBuffer{}, nil))}
	var calls atomic.Int32
	job := cron.FuncJob(func() {
		if calls.Add(1) == 1 {
			panic("boom")
		}
	})
	wrong := cron.NewChain(cron.Recover(l), cron.SkipIfStillRunning(l)).Then(job)
	wrong.Run()
	wrong.Run()
	if calls.Load() != 1 {
		t.Fatalf("expected the wrong order to skip forever; calls=%d", calls.Load())
	}
	calls.Store(0)
	right := cron.NewChain(cron.SkipIfStillRunning(l), cron.Recover(l)).Then(job)
	right.Run()
	right.Run()
	if calls.Load() != 2 {
		t.Fatalf("our order: calls=%d, want 2", calls.Load())
	}
}

func TestScheduler_RunNowWhileRunning_IsSkipped(t *testing.T) {
	s, logs := newTestScheduler(t)
	started, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	_ = s.Add("slow", "off", func(context.Context) {
		calls.Add(1)
		close(started)
		<-release
	})
	done := make(chan error)
	go func() { done <- s.RunNow("slow") }()
	<-started
	if err := s.RunNow("slow"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("calls = %d, want 1", calls.Load())
	}
	if !strings.Contains(logs.String(), "job skipped") {
		t.Errorf("skip not logged:\n%s", logs)
	}
}

func TestScheduler_Stop_CancelsAndWaitsForTheRunningJob(t *testing.T) {
	s, _ := newTestScheduler(t)
	started := make(chan struct{})
	var finished atomic.Bool
	_ = s.Add("long", "off", func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // finishing the current step
		finished.Store(true)
	})
	s.Start()
	go func() { _ = s.RunNow("long") }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Stop returned before the job finished")
	}
	if err := s.RunNow("long"); !errors.Is(err, ErrStopped) {
		t.Fatalf("RunNow after Stop = %v, want ErrStopped", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestScheduler_Stop_GivesUpWhenTheJobIgnoresCancel(t *testing.T) {
	s, _ := newTestScheduler(t)
	started, release := make(chan struct{}), make(chan struct{})
	_ = s.Add("stubborn", "off", func(context.Context) { close(started); <-release })
	go func() { _ = s.RunNow("stubborn") }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want deadline exceeded", err)
	}
	close(release)
}

func TestScheduler_Add_RefusesBadSpecsAndDuplicates(t *testing.T) {
	s, _ := newTestScheduler(t)
	if err := s.Add("x", "every tuesday", func(context.Context) {}); err == nil {
		t.Fatal("bad spec accepted")
	}
	if err := s.Add("y", "@hourly", func(context.Context) {}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("y", "@hourly", func(context.Context) {}); err == nil {
		t.Fatal("duplicate accepted")
	}
	s.Start()
	if next := s.Next("y"); next.IsZero() || next.Location() != time.UTC {
		t.Fatalf("next = %v, want a UTC time", next)
	}
	if err := s.RunNow("nope"); err == nil {
		t.Fatal("unknown job ran")
	}
}
