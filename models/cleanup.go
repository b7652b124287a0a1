package models

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// CleanupRun is one row of cleanup_runs: what a cleanup did and when.
// FinishedAt is nil while the run is going; a run whose process died is
// marked abandoned by the next run or start that finds it.
type CleanupRun struct {
	bun.BaseModel `bun:"table:cleanup_runs"`

	ID         int64      `bun:"id,pk,autoincrement" json:"id"`
	Trigger    string     `bun:"trigger" json:"trigger"`
	StartedAt  time.Time  `bun:"started_at" json:"startedAt"`
	FinishedAt *time.Time `bun:"finished_at" json:"finishedAt"`
	Deleted    int64      `bun:"deleted" json:"deleted"`
	Error      string     `bun:"error" json:"error"`
	// ProgressAt is when the run last committed a chunk (Deleted counts up
	// to it), or its start.
	ProgressAt *time.Time `bun:"progress_at" json:"progressAt"`
}

// Duration is how long the run took; zero while it is going.
func (r CleanupRun) Duration() time.Duration {
	if r.FinishedAt == nil {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// Cleanup triggers, recorded with each run.
const (
	TriggerSchedule = "schedule"
	TriggerAdmin    = "admin"
	TriggerCLI      = "cli"
)

// CleanupCancelled is the error recorded for a run stopped by its context.
const CleanupCancelled = "cancelled"

// CleanupAbandoned is the error recorded for a run whose process died in
// it; its finished_at is its last committed chunk.
const CleanupAbandoned = "abandoned: the process stopped mid-run"

// CleanupOptions shape one cleanup. The zero value of each field has a
// sensible default.
type CleanupOptions struct {
	Trigger string
	// BatchSize is the first and the largest chunk (default 10,000).
	BatchSize int
	// Target is the time a chunk should take; chunks shrink when one took
	// longer and grow back (up to BatchSize) when faster. Default 25 ms on
	// SQLite, whose single writer every request waits behind, 100 ms on
	// PostgreSQL, where readers never wait for a delete.
	Target time.Duration
	// Retention: audit events older than now-Retention are pruned in the
	// same run; 0 keeps them all.
	Retention time.Duration
	// DryRun counts what would go and deletes nothing.
	DryRun bool
	// OnChunk is told about each committed chunk (for --verbose and tests).
	OnChunk func(CleanupChunk)
	// Audit names who asked (the admin, the CLI); empty for the schedule.
	Audit Audit
	// Clock stamps finished_at; nil: now plus the time the run took.
	Clock func() time.Time
}

// CleanupChunk is one committed delete.
type CleanupChunk struct {
	Table string // "sessions", "session_events", a table of prunes, or "login_failures"
	Rows  int
	Size  int // the limit it ran with
	Took  time.Duration
	Rest  time.Duration // the pause after it
}

// CleanupResult is what a run did. Deleted counts sessions (for a dry run,
// the sessions it would delete).
type CleanupResult struct {
	RunID        int64
	Deleted      int
	EventsPruned int
	CountsPruned int // sign-in throttle counts whose window ended
	OtherPruned  int // old cleanup runs and deliveries, expired links (see prunes)
	Chunks       int
	Skipped      bool // another instance holds the cleanup lock
	Took         time.Duration
}

// Cleanup deletes sessions expired at now (expires_at ≤ now) and prunes
// old audit events and ended sign-in throttle windows, in chunks: each chunk is one short statement (its own
// transaction), sized to take about opt.Target, with a pause after it
// eight times as long as the chunk, so requests get the CPU and the SQLite
// writer.
// A cancelled ctx stops it between chunks; what was deleted stays deleted
// and the run is recorded with the error "cancelled".
//
// On PostgreSQL one instance at a time runs it: the advisory lock, every
// chunk and the unlock go over one dedicated connection (a session lock
// taken on a pooled connection could be released on another, i.e. never).
// An instance that finds the lock taken returns Skipped and records
// nothing. On SQLite the file itself is the one instance.
func Cleanup(ctx context.Context, db *DB, now time.Time, opt CleanupOptions) (res CleanupResult, err error) {
	start := time.Now()
	defer func() { res.Took = time.Since(start) }()
	if opt.BatchSize <= 0 {
		opt.BatchSize = 10000
	}
	if opt.DryRun {
		res.Deleted, err = CountExpired(ctx, db, now)
		if err == nil && opt.Retention > 0 {
			res.EventsPruned, err = countOldEvents(ctx, db, now.Add(-opt.Retention))
		}
		return res, err
	}

	var x bun.IDB = db.DB
	if db.Kind == Postgres {
		conn, err := db.DB.Conn(ctx)
		if err != nil {
			return res, Wrap(err, "cleanup connection")
		}
		defer conn.Close()
		got, err := tryCleanupLock(ctx, conn)
		if err != nil {
			return res, err
		}
		if !got {
			res.Skipped = true
			return res, nil
		}
		defer unlockCleanup(conn)
		x = conn
	}
	return runCleanup(ctx, db, x, now, opt)
}

func runCleanup(ctx context.Context, db *DB, x bun.IDB, now time.Time, opt CleanupOptions) (CleanupResult, error) {
	var res CleanupResult
	if _, err := markAbandoned(ctx, x, db, now); err != nil {
		return res, err
	}
	started := time.Now()
	clock := func() time.Time {
		if opt.Clock != nil {
			return opt.Clock().UTC()
		}
		return now.UTC().Add(time.Since(started))
	}
	startedAt := now.UTC()
	run := &CleanupRun{Trigger: opt.Trigger, StartedAt: startedAt, ProgressAt: &startedAt}
	if _, err := x.NewInsert().Model(run).Exec(ctx); err != nil {
		return res, Wrap(err, "record cleanup run")
	}
	res.RunID = run.ID

	p := newPacer(opt, db.Kind)
	var err error
	res.Deleted, err = p.drain(ctx, "sessions", run.committing(x, db, clock, true, func(ctx context.Context, tx bun.IDB, limit int) (int, error) {
		return deleteExpiredBatchOn(ctx, tx, db, now, limit)
	}))
	if err == nil && opt.Retention > 0 {
		cutoff := now.Add(-opt.Retention)
		p.size = opt.BatchSize
		res.EventsPruned, err = p.drain(ctx, "session_events", run.committing(x, db, clock, false, func(ctx context.Context, tx bun.IDB, limit int) (int, error) {
			return pruneEventsBatch(ctx, tx, db, cutoff, limit)
		}))
	}
	for _, pr := range prunes(db, now, opt.Retention) {
		if err != nil {
			break
		}
		p.size = opt.BatchSize
		var n int
		n, err = p.drain(ctx, pr.table, run.committing(x, db, clock, false, func(ctx context.Context, tx bun.IDB, limit int) (int, error) {
			return pr.batch(ctx, tx, limit)
		}))
		res.OtherPruned += n
	}
	if err == nil {
		p.size = opt.BatchSize
		res.CountsPruned, err = p.drain(ctx, "login_failures", run.committing(x, db, clock, false, func(ctx context.Context, tx bun.IDB, limit int) (int, error) {
			return pruneLoginFailuresBatch(ctx, tx, db, now.Add(-LoginWindow), limit)
		}))
	}
	if err == nil {
		err = pruneRevocations(ctx, x, db, now.Add(-RevocationRetention))
	}
	res.Chunks = p.chunks

	// Record the outcome even when ctx is cancelled: the run happened.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	finished := clock()
	run.FinishedAt, run.Deleted, run.ProgressAt = &finished, int64(res.Deleted), &finished
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		run.Error = CleanupCancelled
	case err != nil:
		run.Error = err.Error()
	}
	detail := fmt.Sprintf("deleted %d expired session(s), pruned %d audit event(s), trigger %s", res.Deleted, res.EventsPruned, opt.Trigger)
	if run.Error != "" {
		detail += ", stopped: " + run.Error
	}
	if _, uerr := x.NewUpdate().Model(run).Column("finished_at", "deleted", "error", "progress_at").WherePK().Exec(wctx); uerr != nil {
		err = errors.Join(err, Wrap(uerr, "record cleanup run"))
	}
	if eerr := RecordEvent(wctx, x, opt.Audit.event(EventCleanupRun, finished, 0, 0, detail)); eerr != nil {
		err = errors.Join(err, eerr)
	}
	return res, err
}

// pacer runs a delete in chunks sized by time, resting after each one.
type pacer struct {
	opt    CleanupOptions
	size   int
	chunks int
}

// restFactor is the pause after a chunk as a multiple of its duration, so
// lookups keep their CPU and, on SQLite, the one writer: a chunk busies a
// core a ninth of the time. On two cores shared with the load generator,
// any work busy a fifth of the time or more took the p99 of lookups at
// 2,000/s to about 3× of before (a plain loop busy 25 ms of every 75:
// 2.5–4.9×), and so did cleanups that rested less. A million expired rows,
// lookups p99 during ÷ before (server with the cache on, off, the CLI):
//   - SQLite resting 2×: a median 3.15× over six passes, four above 3×
//     (AMD EPYC VM); 4×: a median 2.68× over nine, two above 3×; then on
//     an Intel Xeon VM 2.14×, 1.85×; 8×: 2.63×, 1.40×, 1.22× and 1.31×,
//     1.82×, 1.32×, the million taking 162–222 s instead of 84–127 s.
//   - PostgreSQL resting 1×: a median 2.85× over nine, two above 3×; 2×:
//     a median 2.16×, one above 3× (slower machines), then 1.53×, 3.19×,
//     2.08× on the Xeon; 8×: 1.13×, 1.43×, 1.45× and 1.41×, 1.44×, 1.97×,
//     29–55 s instead of 9–11 s.
//
// A cleanup that long is the price: it runs in the background, and a
// million expired rows is a one-off backlog.
const restFactor = 8

// newPacer sets the chunk target and the first chunk for the database:
// the one place they depend on it.
func newPacer(opt CleanupOptions, kind Dialect) *pacer {
	if opt.Target <= 0 {
		opt.Target = 100 * time.Millisecond
		if kind == SQLite {
			opt.Target = 25 * time.Millisecond
		}
	}
	p := &pacer{opt: opt, size: opt.BatchSize}
	if kind == SQLite {
		// SQLite deletes on this process's CPU: start small (a first
		// 10,000-row chunk took ~250 ms).
		p.size = min(opt.BatchSize, 1000)
	}
	return p
}

// drain calls del until it deletes fewer rows than asked. A chunk, once
// started, is never interrupted (it runs on a context without cancel); ctx
// is checked before each chunk and during the pause after it.
func (p *pacer) drain(ctx context.Context, table string, del func(context.Context, int) (int, error)) (int, error) {
	total := 0
	floor := min(p.opt.BatchSize, 50)
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		limit := p.size
		n, took, err := p.chunk(ctx, del, limit)
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
		p.chunks++
		last := n < limit // the run ends here, without a pause
		var pause time.Duration
		if !last {
			pause = min(max(restFactor*took, time.Millisecond), time.Second)
		}
		if p.opt.OnChunk != nil {
			p.opt.OnChunk(CleanupChunk{Table: table, Rows: n, Size: limit, Took: took, Rest: pause})
		}
		if last {
			return total, nil
		}
		p.size = nextChunkSize(limit, took, p.opt.Target, floor, p.opt.BatchSize)
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// busyRetries is how often a chunk is tried again when the database is
// busy (on SQLite another process held the write lock past busy_timeout)
// before the run gives up.
const busyRetries = 4

// chunk runs one delete, retrying a busy database with a growing pause so
// a cleanup beside a busy server finishes instead of failing.
func (p *pacer) chunk(ctx context.Context, del func(context.Context, int) (int, error), limit int) (int, time.Duration, error) {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		t0 := time.Now()
		n, err := del(cctx, limit)
		took := time.Since(t0)
		cancel()
		if err == nil || !errors.Is(err, ErrUnavailable) || attempt == busyRetries {
			return n, took, err
		}
		select {
		case <-ctx.Done():
			return 0, took, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
}

// nextChunkSize scales the chunk toward the target duration: at most 4×
// smaller or 2× larger per step, within [floor, ceiling].
func nextChunkSize(size int, took, target time.Duration, floor, ceiling int) int {
	if took <= 0 {
		took = time.Microsecond
	}
	want := int(float64(size) * float64(target) / float64(took))
	want = min(max(want, size/4), size*2)
	return min(max(want, floor), ceiling)
}

// deleteExpiredBatchOn is DeleteExpiredBatch on a given connection (the
// one holding the PostgreSQL cleanup lock).
func deleteExpiredBatchOn(ctx context.Context, x bun.IDB, db *DB, now time.Time, limit int) (int, error) {
	sub := x.NewSelect().Model((*Session)(nil)).Column("id").
		Where("expires_at <= ?", db.T(now)).OrderExpr("expires_at").Limit(int64(limit))
	res, err := x.NewDelete().Model((*Session)(nil)).Where("id IN (?)", sub).Exec(ctx)
	if err != nil {
		return 0, Wrap(err, "delete expired sessions")
	}
	n, err := res.RowsAffected()
	return int(n), Wrap(err, "delete expired sessions")
}

// pruneEventsBatch deletes at most limit audit events older than cutoff.
func pruneEventsBatch(ctx context.Context, x bun.IDB, db *DB, cutoff time.Time, limit int) (int, error) {
	sub := x.NewSelect().Model((*Event)(nil)).Column("id").
		Where("at < ?", db.T(cutoff)).OrderExpr("at").Limit(int64(limit))
	res, err := x.NewDelete().Model((*Event)(nil)).Where("id IN (?)", sub).Exec(ctx)
	if err != nil {
		return 0, Wrap(err, "prune audit events")
	}
	n, err := res.RowsAffected()
	return int(n), Wrap(err, "prune audit events")
}

// prune is one more table a cleanup run keeps from growing for ever.
type prune struct {
	table, column, where string // rows where column < cutoff (and where), oldest first
	cutoff               time.Time
	db                   *DB
}

// prunes are the tables pruned beside sessions and audit events: cleanup
// runs and mail deliveries kept as long as the audit trail
// (AUDIT_RETENTION; 0 keeps them), and links past their expiry, which no
// one can use.
func prunes(db *DB, now time.Time, retention time.Duration) []prune {
	out := []prune{{table: "user_tokens", column: "expires_at", cutoff: now, db: db}}
	if retention > 0 {
		cutoff := now.Add(-retention)
		out = append(out,
			prune{table: "cleanup_runs", column: "started_at", where: "finished_at IS NOT NULL", cutoff: cutoff, db: db},
			prune{table: "deliveries", column: "created_at", where: "status IN ('sent', 'logged', 'skipped', 'failed')", cutoff: cutoff, db: db})
	}
	return out
}

// batch deletes at most limit of the prune's rows, oldest first.
func (p prune) batch(ctx context.Context, x bun.IDB, limit int) (int, error) {
	sub := x.NewSelect().Table(p.table).Column("id").Where(p.column+" < ?", p.db.T(p.cutoff)).OrderExpr(p.column).Limit(int64(limit))
	if p.where != "" {
		sub = sub.Where(p.where)
	}
	res, err := x.NewDelete().Table(p.table).Where("id IN (?)", sub).Exec(ctx)
	if err != nil {
		return 0, Wrap(err, "prune "+p.table)
	}
	n, err := res.RowsAffected()
	return int(n), Wrap(err, "prune "+p.table)
}

// The lock key mixes CleanupLockKey with the schema, so deployments in
// different schemas of one database do not hold each other up.
const cleanupLockExpr = "hashtextextended(current_schema(), ?)"

func tryCleanupLock(ctx context.Context, conn bun.Conn) (bool, error) {
	var got bool
	err := conn.NewRaw("SELECT pg_try_advisory_lock("+cleanupLockExpr+")", CleanupLockKey).Scan(ctx, &got)
	return got, Wrap(err, "cleanup lock")
}

// unlockCleanup releases the lock; if that fails the connection is thrown
// away rather than returned to the pool still holding it.
func unlockCleanup(conn bun.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock("+cleanupLockExpr+")", CleanupLockKey); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// CountExpired counts sessions expired at now: what a cleanup would delete.
func CountExpired(ctx context.Context, db *DB, now time.Time) (int, error) {
	n, err := db.Read.NewSelect().Model((*Session)(nil)).Where("expires_at <= ?", db.T(now)).Count(ctx)
	return int(n), Wrap(err, "count expired sessions")
}

func countOldEvents(ctx context.Context, db *DB, cutoff time.Time) (int, error) {
	n, err := db.Read.NewSelect().Model((*Event)(nil)).Where("at < ?", db.T(cutoff)).Count(ctx)
	return int(n), Wrap(err, "count old audit events")
}

// CleanupStats are the counts the cleanup command prints before and after.
type CleanupStats struct {
	Total        int `json:"total"`
	Active       int `json:"active"`
	Expired      int `json:"expired"`
	ExpiringSoon int `json:"expiringWithin24h"` // active, expiring within 24 h
}

// GetCleanupStats counts sessions at now.
func GetCleanupStats(ctx context.Context, db *DB, now time.Time) (CleanupStats, error) {
	c, err := CountSessionStates(ctx, db, now)
	return CleanupStats{Total: c.Active + c.Expired, Active: c.Active, Expired: c.Expired, ExpiringSoon: c.ExpiringWithin24h}, err
}

// ListCleanupRuns returns the latest runs, newest first.
func ListCleanupRuns(ctx context.Context, db *DB, limit int) ([]CleanupRun, error) {
	if limit <= 0 {
		return nil, Invalid("limit", "must be positive")
	}
	runs := []CleanupRun{}
	err := db.Read.NewSelect().Model(&runs).OrderExpr("started_at DESC, id DESC").Limit(int64(limit)).Scan(ctx)
	return runs, Wrap(err, "list cleanup runs")
}
