package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"sessiond/models"
)

// CleanupJob is the scheduler's name for the session cleanup.
const CleanupJob = "session-cleanup"

// Cleanup deletes expired sessions, prunes old audit events and ended
// sign-in throttle windows. Every trigger (the schedule, the admin
// console, the CLI, SessionManager.CleanupExpiredSessions) runs it through
// Run, which takes the cleanup lock, records the run with its trigger and
// actor, and deletes in paced chunks: each chunk one short transaction
// that also stamps the run's progress.
type Cleanup struct {
	DB  *models.DB
	Log *slog.Logger // nil: no log lines
	// Now is the clock that judges expiry and stamps runs; time.Now when nil.
	Now func() time.Time
	// BatchSize is the first and the largest chunk (CLEANUP_BATCH_SIZE).
	BatchSize int
	// Target is the time a chunk should take: chunks shrink when one took
	// longer and grow back (up to BatchSize) when faster; zero picks one
	// for the database (see newPacer).
	Target time.Duration
	// Retention: audit events older than now-Retention are pruned in the
	// same run; zero keeps them all.
	Retention time.Duration
	// OnChunk is told about each committed chunk (the CLI's --verbose).
	OnChunk func(CleanupChunk)
	// Before runs first in every run; tests make it panic.
	Before func(trigger string)

	mu   sync.Mutex
	busy bool // a run is going in this process
}

// Run cleans up now for trigger on behalf of by (zero for the schedule).
// A cancelled ctx stops it between chunks; what was deleted stays deleted
// and the run is recorded as cancelled. When another run holds the lock
// (in this process, or another instance on PostgreSQL) it returns Skipped
// and records nothing: that run is doing the work.
func (c *Cleanup) Run(ctx context.Context, trigger string, by models.Audit) (models.CleanupResult, error) {
	return c.run(ctx, trigger, by, nil)
}

// Scheduled is the cron job. Shutdown cancels ctx: the run stops between
// chunks, is recorded as cancelled, and the next one finishes.
func (c *Cleanup) Scheduled(ctx context.Context) {
	_, _ = c.Run(ctx, models.TriggerSchedule, models.Audit{})
}

// Start runs a cleanup in the background under sched, whose Stop cancels
// it and waits for it, and waits up to wait for it to end. done says
// whether it did (res and err are its outcome); otherwise it goes on and
// its cleanup_runs row (res.RunID) shows its progress. Start returns no
// sooner than that row exists, so a page rendered next lists the run.
func (c *Cleanup) Start(sched *Scheduler, trigger string, by models.Audit, wait time.Duration) (res models.CleanupResult, done bool, err error) {
	type outcome struct {
		res models.CleanupResult
		err error
	}
	began, end := make(chan struct{}), make(chan outcome, 1)
	err = sched.Go(CleanupJob, func(ctx context.Context) {
		o := outcome{err: errors.New("cleanup: the run stopped unexpectedly")} // kept only by a panic
		defer func() { end <- o }()
		o.res, o.err = c.run(ctx, trigger, by, func(id int64) { res.RunID = id; close(began) })
	})
	if err != nil {
		return res, false, err
	}
	select {
	case o := <-end:
		return o.res, true, o.err
	case <-began:
	}
	select {
	case o := <-end:
		return o.res, true, o.err
	case <-time.After(wait):
		return res, false, nil
	}
}

// Pending counts what a run now would delete (sessions) and prune (audit
// events), deleting nothing: the CLI's --dry-run.
func (c *Cleanup) Pending(ctx context.Context) (sessions, events int, err error) {
	now := c.now()
	if sessions, err = models.CountExpired(ctx, c.DB, now); err != nil || c.Retention <= 0 {
		return sessions, 0, err
	}
	events, err = models.CountOldEvents(ctx, c.DB, now.Add(-c.Retention))
	return sessions, events, err
}

// MarkAbandoned records the runs a killed process left "running" as
// abandoned, as a starting server does (every run does it too). A failure
// only leaves them for the next run to mark.
func (c *Cleanup) MarkAbandoned(ctx context.Context) {
	n, err := c.markAbandoned(ctx)
	switch {
	case err != nil:
		c.log().Warn("could not check for abandoned cleanup runs", "error", err)
	case n > 0:
		c.log().Warn("cleanup runs left unfinished by a stopped process marked abandoned; the next run finishes the job", "runs", n)
	}
}

func (c *Cleanup) markAbandoned(ctx context.Context) (int, error) {
	x, release, got, err := models.LockCleanup(ctx, c.DB)
	if err != nil || !got {
		return 0, err
	}
	defer release()
	return models.MarkAbandonedCleanups(ctx, x, c.DB, c.now())
}

// run is Run, calling began with the run's id once it is recorded.
func (c *Cleanup) run(ctx context.Context, trigger string, by models.Audit, began func(id int64)) (res models.CleanupResult, err error) {
	start := time.Now()
	defer func() { res.Took = time.Since(start) }()
	if c.Before != nil {
		c.Before(trigger)
	}
	if c.BatchSize <= 0 {
		return res, errors.New("cleanup: the batch size must be positive")
	}
	if !c.claim() {
		c.log().Info("cleanup skipped: a run is already going", "trigger", trigger)
		return models.CleanupResult{Skipped: true}, nil
	}
	defer c.release()
	x, release, got, err := models.LockCleanup(ctx, c.DB)
	if err != nil {
		return res, err
	}
	if !got {
		c.log().Info("cleanup skipped: another instance holds the cleanup lock", "trigger", trigger)
		return models.CleanupResult{Skipped: true}, nil
	}
	defer release()
	now := c.now()
	run, err := models.BeginCleanupRun(ctx, x, c.DB, trigger, by, now)
	if err != nil {
		return res, err
	}
	if began != nil {
		began(run.ID)
	}
	res, err = c.drain(ctx, x, run, now)
	res.RunID = run.ID
	err = errors.Join(err, run.Finish(ctx, x, by, res, err, c.now()))
	switch {
	case errors.Is(err, context.Canceled):
		c.log().Info("cleanup stopped by shutdown; the next run finishes it", "trigger", trigger, "deleted", res.Deleted)
	case err != nil:
		c.log().Error("cleanup failed", "trigger", trigger, "deleted", res.Deleted, "error", err)
	default:
		c.log().Info("cleanup finished", "trigger", trigger, "deleted", res.Deleted, "events_pruned", res.EventsPruned,
			"chunks", res.Chunks, "duration_ms", time.Since(start).Milliseconds())
	}
	return res, err
}

// drain deletes each step's rows in turn, in paced chunks.
func (c *Cleanup) drain(ctx context.Context, x bun.IDB, run *models.CleanupRun, now time.Time) (models.CleanupResult, error) {
	var res models.CleanupResult
	p := newPacer(c.DB.Kind, c.BatchSize, c.Target, c.OnChunk)
	var err error
	for _, st := range models.CleanupSteps(now, c.Retention) {
		var n int
		n, err = p.drain(ctx, st.Table, func(ctx context.Context, limit int) (int, error) {
			return run.Chunk(ctx, x, c.DB, st, c.now(), limit)
		})
		switch st.Table {
		case "sessions":
			res.Deleted = n
		case "session_events":
			res.EventsPruned = n
		case "login_failures":
			res.CountsPruned = n
		default:
			res.OtherPruned += n
		}
		if err != nil {
			break
		}
	}
	res.Chunks = p.chunks
	return res, err
}

func (c *Cleanup) claim() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy {
		return false
	}
	c.busy = true
	return true
}

func (c *Cleanup) release() {
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
}

func (c *Cleanup) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (c *Cleanup) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Log
}
