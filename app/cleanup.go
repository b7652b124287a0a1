package app

import (
	"context"
	"errors"

	"sessiond/models"
)

// cleanupJobName is the scheduler's name for the session cleanup.
const cleanupJobName = "session-cleanup"

// runCleanup deletes expired sessions now on behalf of trigger
// ("schedule", "admin" or "cli") and returns how many rows went. The
// cleanup job, the admin button and the CLI all come through here. When
// another instance holds the PostgreSQL cleanup lock it returns 0 and nil
// (and logs the skip): that instance is doing the work.
func (s *Server) runCleanup(ctx context.Context, trigger string) (int, error) {
	res, err := s.cleanup(ctx, trigger, models.Audit{})
	return res.Deleted, err
}

// cleanup is runCleanup with the whole result, naming who asked.
func (s *Server) cleanup(ctx context.Context, trigger string, by models.Audit) (models.CleanupResult, error) {
	if s.beforeCleanup != nil {
		s.beforeCleanup(trigger)
	}
	opt := cleanupOptions(s.cfg, trigger, by, nil)
	opt.Clock = s.sessions.Now // the server's clock, which tests move
	res, err := models.Cleanup(ctx, s.db, s.sessions.Now(), opt)
	switch {
	case res.Skipped:
		s.log.Info("cleanup skipped: another instance holds the cleanup lock", "trigger", trigger)
	case err == nil:
		s.log.Info("cleanup finished", "trigger", trigger, "deleted", res.Deleted, "events_pruned", res.EventsPruned,
			"chunks", res.Chunks, "duration_ms", res.Took.Milliseconds())
	}
	return res, err
}

// scheduledCleanup is the cron job. Shutdown cancels ctx: the run stops
// between chunks, is recorded as cancelled, and the next one finishes.
func (s *Server) scheduledCleanup(ctx context.Context) {
	_, err := s.runCleanup(ctx, models.TriggerSchedule)
	switch {
	case errors.Is(err, context.Canceled):
		s.log.Info("cleanup stopped by shutdown; the next run finishes it")
	case err != nil:
		s.log.Error("cleanup failed", "trigger", models.TriggerSchedule, "error", err)
	}
}

// markAbandonedCleanups records, at start, the cleanup runs a killed
// process left "running" as abandoned (the next run does it too). A
// failure only leaves them for the next run to mark.
func (s *Server) markAbandonedCleanups(ctx context.Context) {
	n, err := models.MarkAbandonedCleanups(ctx, s.db, s.sessions.Now())
	switch {
	case err != nil:
		s.log.Warn("could not check for abandoned cleanup runs", "error", err)
	case n > 0:
		s.log.Warn("cleanup runs left unfinished by a stopped process marked abandoned; the next run finishes the job", "runs", n)
	}
}
