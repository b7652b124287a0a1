// Package jobs runs sessiond's background work on a cron schedule. It knows
// nothing of HTTP or the app: a job is a name, a spec and a function.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// ErrStopped: the scheduler has been stopped and runs nothing more.
var ErrStopped = errors.New("scheduler stopped")

// Scheduler wraps robfig/cron: times in UTC, every run (scheduled or
// RunNow) goes through the same chain, so a second run while one is still
// going is skipped and a panic is logged instead of killing the process.
//
// The chain order matters: SkipIfStillRunning in cron v3.0.1 returns its
// token only when the job returns normally, so Recover must sit inside it.
// The other order would leave the job skipped forever after one panic.
type Scheduler struct {
	cron   *cron.Cron
	log    *slog.Logger
	ctx    context.Context // cancelled by Stop; every run gets it
	cancel context.CancelFunc

	mu      sync.Mutex
	jobs    map[string]cron.Job // wrapped by the chain
	ids     map[string]cron.EntryID
	chain   cron.Chain
	started bool
	stopped bool
	running sync.WaitGroup // RunNow calls
}

// New returns a scheduler that logs through log. It runs nothing until
// Start.
func New(log *slog.Logger) *Scheduler {
	l := Logger{log}
	chain := []cron.JobWrapper{cron.SkipIfStillRunning(l), cron.Recover(l)}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		cron:   cron.New(cron.WithLocation(time.UTC), cron.WithLogger(l), cron.WithChain(chain...)),
		log:    log,
		ctx:    ctx,
		cancel: cancel,
		jobs:   map[string]cron.Job{},
		ids:    map[string]cron.EntryID{},
		chain:  cron.NewChain(chain...),
	}
}

// Add registers fn under name on spec (standard cron syntax or a
// descriptor such as @hourly). An empty spec or "off" registers the job for
// RunNow only. fn gets a context that Stop cancels: a long job should check
// it between steps.
func (s *Scheduler) Add(name, spec string, fn func(ctx context.Context)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[name]; dup {
		return fmt.Errorf("job %q: already added", name)
	}
	job := cron.FuncJob(func() {
		start := time.Now()
		s.log.Debug("job started", "job", name)
		fn(s.ctx)
		s.log.Debug("job finished", "job", name, "duration_ms", time.Since(start).Milliseconds())
	})
	if spec == "" || spec == "off" {
		s.jobs[name] = s.chain.Then(job)
		return nil
	}
	id, err := s.cron.AddJob(spec, job)
	if err != nil {
		return fmt.Errorf("job %q: schedule %q: %w", name, spec, err)
	}
	s.jobs[name], s.ids[name] = s.cron.Entry(id).WrappedJob, id
	return nil
}

// RunNow runs the named job in the caller's goroutine, through the same
// chain as the schedule: if a run is in progress it returns at once
// (skipped), and a panic is recovered and logged.
func (s *Scheduler) RunNow(name string) error {
	s.mu.Lock()
	job, ok := s.jobs[name]
	if s.stopped {
		s.mu.Unlock()
		return ErrStopped
	}
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("job %q: not found", name)
	}
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()
	job.Run()
	return nil
}

// Go runs fn in its own goroutine with the context Stop cancels; Stop
// waits for it as for a running job. A panic is recovered and logged.
func (s *Scheduler) Go(name string, fn func(ctx context.Context)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("job panicked", "job", name, "panic", fmt.Sprint(r))
			}
		}()
		fn(s.ctx)
	}()
	return nil
}

// Next reports when the named job runs next; zero when it is not
// scheduled or the scheduler has not started.
func (s *Scheduler) Next(name string) time.Time {
	s.mu.Lock()
	id, ok := s.ids[name]
	s.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return s.cron.Entry(id).Next
}

// Start begins running jobs on their schedules.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	s.cron.Start()
}

// Stop schedules nothing more, cancels the context of running jobs and
// waits for them to return, or for ctx to end. Calling it again is safe.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	cronDone := s.cron.Stop() // done at once when it never started
	nowDone := make(chan struct{})
	go func() { s.running.Wait(); close(nowDone) }()
	for _, done := range []<-chan struct{}{cronDone.Done(), nowDone} {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("stop jobs: %w", ctx.Err())
		}
	}
	return nil
}

// Logger adapts slog to cron.Logger. Cron's chatter (wake, run, added) goes
// to debug; a skipped run to info; errors and recovered panics to error.
type Logger struct{ L *slog.Logger }

// Info logs cron's routine messages.
func (l Logger) Info(msg string, keysAndValues ...any) {
	level := slog.LevelDebug
	if msg == "skip" {
		msg, level = "job skipped: the previous run is still going", slog.LevelInfo
	}
	l.L.Log(context.Background(), level, "cron: "+msg, keysAndValues...)
}

// Error logs failures, including a recovered panic and its stack.
func (l Logger) Error(err error, msg string, keysAndValues ...any) {
	l.L.Error("cron: "+msg, append(keysAndValues, "error", err)...)
}
