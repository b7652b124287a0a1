package models

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// committing wraps a chunk's delete so that it commits in one transaction
// with the run's progress (and, for sessions, its count): the row then
// says what the run did up to its last committed chunk, even if the
// process is killed right after.
func (r *CleanupRun) committing(x bun.IDB, db *DB, clock func() time.Time, sessions bool,
	del func(ctx context.Context, tx bun.IDB, limit int) (int, error)) func(context.Context, int) (int, error) {
	return func(ctx context.Context, limit int) (int, error) {
		var n int
		err := x.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			var err error
			if n, err = del(ctx, tx, limit); err != nil || n == 0 {
				return err
			}
			q := tx.NewUpdate().Table("cleanup_runs").Set("progress_at = ?", db.T(clock())).Where("id = ?", r.ID)
			if sessions {
				q = q.Set("deleted = deleted + ?", n)
			}
			_, err = q.Exec(ctx)
			return err
		})
		return n, Wrap(err, "cleanup chunk")
	}
}

// staleCleanup is how long an unfinished run may go without committing a
// chunk before it counts as abandoned where no lock says so (SQLite): a
// chunk, its busy retries included, takes at most about five minutes.
const staleCleanup = 10 * time.Minute

// markAbandoned records unfinished runs whose process died as abandoned,
// finished at their last committed chunk. On PostgreSQL the caller holds
// the cleanup lock, which every run holds while it goes, so every
// unfinished run is dead; on SQLite another process may be mid-run, so
// only runs without progress for staleCleanup are.
func markAbandoned(ctx context.Context, x bun.IDB, db *DB, now time.Time) (int, error) {
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

// MarkAbandonedCleanups is what a starting server does: mark the runs a
// dead process left unfinished (see markAbandoned). On PostgreSQL it does
// nothing while another instance holds the cleanup lock.
func MarkAbandonedCleanups(ctx context.Context, db *DB, now time.Time) (int, error) {
	if db.Kind != Postgres {
		return markAbandoned(ctx, db.DB, db, now)
	}
	conn, err := db.DB.Conn(ctx)
	if err != nil {
		return 0, Wrap(err, "cleanup connection")
	}
	defer conn.Close()
	got, err := tryCleanupLock(ctx, conn)
	if err != nil || !got {
		return 0, err
	}
	defer unlockCleanup(conn)
	return markAbandoned(ctx, conn, db, now)
}
