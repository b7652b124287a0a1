package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"sessiond/jobs"
	"sessiond/models"
)

// cleanupJob is the one place the configuration becomes the cleanup job,
// for the server (its schedule and admin buttons) and the CLI alike.
func cleanupJob(cfg Config, db *models.DB, log *slog.Logger, now func() time.Time) *jobs.Cleanup {
	return &jobs.Cleanup{DB: db, Log: log, Now: now, BatchSize: cfg.CleanupBatchSize, Retention: cfg.AuditRetention}
}

// runSessions is `sessiond sessions cleanup [--dry-run] [--verbose]`. It
// is safe beside a running server on the same SQLite file: every chunk is a
// short transaction and waits its turn through busy_timeout. Ctrl-C (ctx)
// stops it between chunks; it then says what was done and fails.
func runSessions(ctx context.Context, env Env, cfg Config, db *models.DB, args []string) error {
	if len(args) == 0 || args[0] != "cleanup" {
		return errors.New("sessions: want cleanup [--dry-run] [--verbose]")
	}
	fs := flag.NewFlagSet("sessions cleanup", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dryRun := fs.Bool("dry-run", false, "count what would be deleted, delete nothing")
	verbose := fs.Bool("verbose", false, "print each chunk (rows, milliseconds)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sessions cleanup: unexpected argument %q", fs.Arg(0))
	}
	out := env.Stdout
	now := time.Now()
	if err := printStats(ctx, out, db, "before", now); err != nil {
		return err
	}
	job := cleanupJob(cfg, db, nil, func() time.Time { return now })
	if *dryRun {
		sessions, events, err := job.Pending(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "would delete %d expired session(s) and %d audit event(s) older than AUDIT_RETENTION (dry run: nothing deleted)\n",
			sessions, events)
		return nil
	}
	if *verbose {
		n := 0
		job.OnChunk = func(c jobs.CleanupChunk) {
			n++
			fmt.Fprintf(out, "  chunk %d: %s %d rows (limit %d) in %d ms, then rest %d ms\n", n, c.Table, c.Rows, c.Size, c.Took.Milliseconds(), c.Rest.Milliseconds())
		}
	}
	// Normal CPU priority on purpose: on SQLite each chunk holds the one
	// write lock, and a chunk starved of CPU (SCHED_IDLE or a high nice
	// under load) would hold it for seconds while sign-ins wait.
	res, err := job.Run(ctx, models.TriggerCLI, models.Audit{UserAgent: "sessiond CLI"})
	if res.Skipped {
		fmt.Fprintln(out, "skipped: another instance is running cleanup right now; nothing deleted")
		return nil
	}
	rate := 0.0
	if s := res.Took.Seconds(); s > 0 {
		rate = float64(res.Deleted) / s
	}
	fmt.Fprintf(out, "deleted %d expired session(s) and %d audit event(s) in %d chunk(s), %d ms (%.0f rows/s)\n",
		res.Deleted, res.EventsPruned, res.Chunks, res.Took.Milliseconds(), rate)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(out, "interrupted: stopped between chunks; what was deleted stays deleted, run it again to finish")
		_ = printStats(context.WithoutCancel(ctx), out, db, "after", now)
		return errors.New("sessions cleanup: interrupted")
	}
	if err != nil {
		return fmt.Errorf("sessions cleanup failed after deleting %d session(s): %w", res.Deleted, err)
	}
	return printStats(ctx, out, db, "after", now)
}

func printStats(ctx context.Context, w io.Writer, db *models.DB, label string, now time.Time) error {
	st, err := models.CountSessionStates(ctx, db, now)
	if err != nil {
		return fmt.Errorf("sessions cleanup: read statistics: %w", err)
	}
	fmt.Fprintf(w, "%-7s total %d, active %d, expired %d, expiring within 24h %d\n",
		label+":", st.Active+st.Expired, st.Active, st.Expired, st.ExpiringWithin24h)
	return nil
}
