package models

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// CleanupRun is one row of cleanup_runs: what a cleanup did, when, and for
// whom. FinishedAt is nil while the run is going; a run whose process died
// is marked abandoned by the next run or start that finds it.
type CleanupRun struct {
	bun.BaseModel `bun:"table:cleanup_runs,alias:r"`

	ID         int64      `bun:"id,pk,autoincrement" json:"id"`
	Trigger    string     `bun:"trigger" json:"trigger"`
	ActorID    *int64     `bun:"actor_id" json:"actorId"`
	ActorEmail string     `bun:"actor_email,scanonly" json:"actorEmail,omitempty"`
	StartedAt  time.Time  `bun:"started_at" json:"startedAt"`
	FinishedAt *time.Time `bun:"finished_at" json:"finishedAt"`
	// Expected is how many sessions were expired when the run began: what
	// Deleted counts up to.
	Expected int64  `bun:"expected" json:"expected"`
	Deleted  int64  `bun:"deleted" json:"deleted"`
	Error    string `bun:"error" json:"error"`
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
	TriggerManager  = "manager" // SessionManager.CleanupExpiredSessions
)

// CleanupCancelled is the error recorded for a run stopped by its context.
const CleanupCancelled = "cancelled"

// CleanupAbandoned is the error recorded for a run whose process died in
// it; its finished_at is its last committed chunk.
const CleanupAbandoned = "abandoned: the process stopped mid-run"

// CleanupResult is what a run did. Deleted counts sessions (for a dry run,
// the sessions it would delete).
type CleanupResult struct {
	RunID        int64
	Deleted      int
	EventsPruned int
	CountsPruned int // sign-in throttle counts whose window ended
	OtherPruned  int // old cleanup runs and deliveries, expired links (see CleanupSteps)
	Chunks       int
	Skipped      bool // another run holds the cleanup lock
	Took         time.Duration
}

// CleanupStep is one kind of row a cleanup deletes, in chunks of its own.
type CleanupStep struct {
	Table string // where the rows are: sessions, session_events, …
	// column < cutoff (<= for sessions, whose expiry at now is past) and
	// where pick the rows, oldest first.
	column, where string
	cutoff        time.Time
	inclusive     bool
	key           string // the rows' key: id, or login_failures' two columns
}

// CleanupSteps are what a run at now deletes, in order: sessions expired
// at now; audit events, cleanup runs and finished deliveries older than
// retention (0 keeps them); links past their expiry, which no one can use;
// revocation log rows older than RevocationRetention but the newest (see
// checkPruned); sign-in throttle windows that ended.
func CleanupSteps(now time.Time, retention time.Duration) []CleanupStep {
	steps := []CleanupStep{{Table: "sessions", column: "expires_at", cutoff: now, inclusive: true}}
	old := now.Add(-retention)
	if retention > 0 {
		steps = append(steps, CleanupStep{Table: "session_events", column: "at", cutoff: old})
	}
	steps = append(steps, CleanupStep{Table: "user_tokens", column: "expires_at", cutoff: now})
	if retention > 0 {
		steps = append(steps,
			CleanupStep{Table: "cleanup_runs", column: "started_at", where: "finished_at IS NOT NULL", cutoff: old},
			CleanupStep{Table: "deliveries", column: "created_at", where: "status IN ('sent', 'logged', 'skipped', 'failed')", cutoff: old})
	}
	steps = append(steps, CleanupStep{Table: "revocations", column: "at", where: "id < (SELECT MAX(id) FROM revocations)",
		cutoff: now.Add(-RevocationRetention)})
	return append(steps, CleanupStep{Table: "login_failures", column: "window_start", cutoff: now.Add(-LoginWindow), key: "(scope, subject)"})
}

// deleteChunk deletes at most limit of the step's rows, oldest first.
func (st CleanupStep) deleteChunk(ctx context.Context, x bun.IDB, db *DB, limit int) (int, error) {
	key, op := cmp.Or(st.key, "id"), " < ?"
	if st.inclusive {
		op = " <= ?"
	}
	sub := x.NewSelect().Table(st.Table).ColumnExpr(strings.Trim(key, "()")).
		Where(st.column+op, db.T(st.cutoff)).OrderExpr(st.column).Limit(int64(limit))
	if st.where != "" {
		sub = sub.Where(st.where)
	}
	res, err := x.NewDelete().TableExpr(st.Table).Where(key+" IN (?)", sub).Exec(ctx)
	if err != nil {
		return 0, Wrap(err, "clean up "+st.Table)
	}
	n, err := res.RowsAffected()
	return int(n), Wrap(err, "clean up "+st.Table)
}

// LockCleanup takes the cleanup lock and returns the connection every
// statement of the run must use, and its release. On PostgreSQL that is a
// dedicated connection holding an advisory lock (a session lock taken on a
// pooled connection could be released on another, i.e. never); got is
// false when another instance holds it. On SQLite the file itself is the
// one instance.
func LockCleanup(ctx context.Context, db *DB) (x bun.IDB, release func(), got bool, err error) {
	if db.Kind != Postgres {
		return db.DB, func() {}, true, nil
	}
	conn, err := db.DB.Conn(ctx)
	if err != nil {
		return nil, nil, false, Wrap(err, "cleanup connection")
	}
	if err := conn.NewRaw("SELECT pg_try_advisory_lock("+cleanupLockExpr+")", CleanupLockKey).Scan(ctx, &got); err != nil || !got {
		conn.Close()
		return nil, nil, false, Wrap(err, "cleanup lock")
	}
	return conn, func() { unlockCleanup(conn); conn.Close() }, true, nil
}

// The lock key mixes CleanupLockKey with the schema, so deployments in
// different schemas of one database do not hold each other up.
const cleanupLockExpr = "hashtextextended(current_schema(), ?)"

// unlockCleanup releases the lock; if that fails the connection is thrown
// away rather than returned to the pool still holding it.
func unlockCleanup(conn bun.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock("+cleanupLockExpr+")", CleanupLockKey); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// BeginCleanupRun records a run starting at now on x (the connection
// LockCleanup gave), after marking runs a dead process left unfinished.
func BeginCleanupRun(ctx context.Context, x bun.IDB, db *DB, trigger string, by Audit, now time.Time) (*CleanupRun, error) {
	if _, err := MarkAbandonedCleanups(ctx, x, db, now); err != nil {
		return nil, err
	}
	expected, err := x.NewSelect().Model((*Session)(nil)).Where("expires_at <= ?", db.T(now)).Count(ctx)
	if err != nil {
		return nil, Wrap(err, "count expired sessions")
	}
	at := now.UTC()
	run := &CleanupRun{Trigger: trigger, ActorID: ptr(by.ActorID), StartedAt: at, ProgressAt: &at, Expected: int64(expected)}
	if _, err := x.NewInsert().Model(run).Exec(ctx); err != nil {
		return nil, Wrap(err, "record cleanup run")
	}
	return run, nil
}

// Chunk deletes at most limit of the step's rows in one transaction with
// the run's progress stamped at: the row then says what the run did up to
// its last committed chunk, even if the process is killed right after.
func (r *CleanupRun) Chunk(ctx context.Context, x bun.IDB, db *DB, st CleanupStep, at time.Time, limit int) (int, error) {
	var n int
	err := x.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if n, err = st.deleteChunk(ctx, tx, db, limit); err != nil || n == 0 {
			return err
		}
		q := tx.NewUpdate().Table("cleanup_runs").Set("progress_at = ?", db.T(at)).Where("id = ?", r.ID)
		if st.Table == "sessions" {
			q = q.Set("deleted = deleted + ?", n)
		}
		_, err = q.Exec(ctx)
		return err
	})
	return n, Wrap(err, "cleanup chunk")
}

// Finish records the run's outcome and its audit event, even when ctx is
// cancelled: the run happened. runErr is why it stopped, if it did.
func (r *CleanupRun) Finish(ctx context.Context, x bun.IDB, by Audit, res CleanupResult, runErr error, at time.Time) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	at = at.UTC()
	r.FinishedAt, r.Deleted, r.ProgressAt = &at, int64(res.Deleted), &at
	switch {
	case errors.Is(runErr, context.Canceled), errors.Is(runErr, context.DeadlineExceeded):
		r.Error = CleanupCancelled
	case runErr != nil:
		r.Error = runErr.Error()
	}
	detail := fmt.Sprintf("deleted %d expired session(s), pruned %d audit event(s), trigger %s", res.Deleted, res.EventsPruned, r.Trigger)
	if r.Error != "" {
		detail += ", stopped: " + r.Error
	}
	var err error
	if _, uerr := x.NewUpdate().Model(r).Column("finished_at", "deleted", "error", "progress_at").WherePK().Exec(wctx); uerr != nil {
		err = Wrap(uerr, "record cleanup run")
	}
	return errors.Join(err, RecordEvent(wctx, x, by.event(EventCleanupRun, at, 0, 0, detail)))
}

// staleCleanup is how long an unfinished run may go without committing a
// chunk before it counts as abandoned where no lock says so (SQLite): a
// chunk, its busy retries included, takes at most about five minutes.
const staleCleanup = 10 * time.Minute

// MarkAbandonedCleanups records unfinished runs whose process died as
// abandoned, finished at their last committed chunk; x is the connection
// LockCleanup gave. On PostgreSQL the lock is held by every run while it
// goes, so every unfinished run is dead; on SQLite another process may be
// mid-run, so only runs without progress for staleCleanup are.
func MarkAbandonedCleanups(ctx context.Context, x bun.IDB, db *DB, now time.Time) (int, error) {
	q := x.NewUpdate().Table("cleanup_runs").
		Set("finished_at = COALESCE(progress_at, started_at)").Set("error = ?", CleanupAbandoned).
		Where("finished_at IS NULL")
	if db.Kind == SQLite {
		q = q.Where("COALESCE(progress_at, started_at) < ?", db.T(now.Add(-staleCleanup)))
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return 0, Wrap(err, "mark abandoned cleanup runs")
	}
	n, err := res.RowsAffected()
	return int(n), Wrap(err, "mark abandoned cleanup runs")
}

// CountExpired counts sessions expired at now: what a cleanup would delete.
func CountExpired(ctx context.Context, db *DB, now time.Time) (int, error) {
	n, err := db.Read.NewSelect().Model((*Session)(nil)).Where("expires_at <= ?", db.T(now)).Count(ctx)
	return int(n), Wrap(err, "count expired sessions")
}

// CountOldEvents counts audit events before cutoff: what a cleanup would
// prune.
func CountOldEvents(ctx context.Context, db *DB, cutoff time.Time) (int, error) {
	n, err := db.Read.NewSelect().Model((*Event)(nil)).Where("at < ?", db.T(cutoff)).Count(ctx)
	return int(n), Wrap(err, "count old audit events")
}

// ListCleanupRuns returns the latest runs, newest first, with the email of
// the admin who asked for each.
func ListCleanupRuns(ctx context.Context, db *DB, limit int) ([]CleanupRun, error) {
	if limit <= 0 {
		return nil, Invalid("limit", "must be positive")
	}
	runs := []CleanupRun{}
	err := db.Read.NewSelect().Model(&runs).ColumnExpr("r.*").ColumnExpr("COALESCE(u.email, '') AS actor_email").
		Join("LEFT JOIN users AS u ON u.id = r.actor_id").
		OrderExpr("r.started_at DESC, r.id DESC").Limit(int64(limit)).Scan(ctx)
	return runs, Wrap(err, "list cleanup runs")
}
