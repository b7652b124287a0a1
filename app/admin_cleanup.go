package app

import (
	"bytes"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/jobs"
	"sessiond/models"
)

// recentCleanupRuns is how many runs the dashboard lists.
const recentCleanupRuns = 20

// How long an admin's cleanup is waited for before the answer is its
// progress instead: a page shows a short run's outcome at once; a script
// wants the count, within the server's write timeout.
const (
	cleanupWaitPage = 1500 * time.Millisecond
	cleanupWaitJSON = 20 * time.Second
)

// cleanupView is the runs fragment's data.
type cleanupView struct {
	Runs     []cleanupRunRow
	Running  bool // a run is going: the fragment polls until it ends
	Schedule string
	NextRun  time.Time // zero when not scheduled
	Message  string    // the outcome of "Run now" (full-page form post)
}

type cleanupRunRow struct {
	models.CleanupRun
	Took    string // "" while running
	Running bool
	Percent int // of the expected sessions deleted so far
}

// handleCleanupRuns lists recent cleanup runs: the fragment the sessions
// dashboard loads (and polls while a run goes), a page of its own, or
// JSON. A poll that finds the watched run ended tells the dashboard
// (sessions-changed), whose counts it changed.
func (s *Server) handleCleanupRuns(c *fiber.Ctx) error {
	v, err := s.cleanupView(c, "")
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"runs": runsJSON(v.Runs), "running": v.Running, "schedule": v.Schedule, "nextRun": nextRunJSON(v.NextRun)})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if c.Query("watch") != "" && !v.Running && wantsFragment(c) {
		c.Set("HX-Trigger", "sessions-changed")
	}
	return s.view(c, fiber.StatusOK, "admin/cleanup", "admin/cleanup_runs", Page{Title: "Cleanup runs", Nav: "admin-cleanup", Data: v})
}

// handleCleanupRun starts a cleanup on behalf of the admin. htmx gets the
// refreshed runs fragment (the run, with its progress while it goes), the
// outcome as a toast, and sessions-changed so the dashboard refreshes.
func (s *Server) handleCleanupRun(c *fiber.Ctx) error {
	res, done, err := s.startCleanup(c)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return cleanupJSON(c, res, done, fiber.Map{"deleted": res.Deleted, "eventsPruned": res.EventsPruned, "skipped": res.Skipped, "runId": res.RunID})
	}
	msg := cleanupMessage(res, done, "Removed "+plural(res.Deleted, "expired session")+".")
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !wantsFragment(c) {
		v, err := s.cleanupView(c, msg)
		if err != nil {
			return err
		}
		return s.view(c, fiber.StatusOK, "admin/cleanup", "", Page{Title: "Cleanup runs", Nav: "admin-cleanup", Data: v})
	}
	v, err := s.cleanupView(c, "")
	if err != nil {
		return err
	}
	p := Page{CSRF: s.csrfToken(c), Data: v}
	var out bytes.Buffer
	if err := s.views.Render(&out, "admin/cleanup_runs", p); err != nil {
		return err
	}
	p.Data = errorView{Message: msg} // the toast template reads .Data.Message
	if err := s.views.Render(&out, "admin/cleanup_toast", p); err != nil {
		return err
	}
	c.Set("HX-Trigger", "sessions-changed")
	c.Vary("HX-Request")
	c.Type("html", "utf-8")
	return c.Send(out.Bytes())
}

// startCleanup is both admin buttons' one path: a cleanup in the
// background, recorded with the admin as its actor.
func (s *Server) startCleanup(c *fiber.Ctx) (models.CleanupResult, bool, error) {
	wait := cleanupWaitPage
	if wantsJSON(c) {
		wait = cleanupWaitJSON
	}
	res, done, err := s.cleanup.Start(s.jobs, models.TriggerAdmin, s.audit(c), wait)
	if err == nil {
		s.logAdmin(c, "admin ran cleanup", "run_id", res.RunID, "finished", done, "sessions_deleted", res.Deleted, "skipped", res.Skipped)
	}
	return res, done, err
}

// cleanupJSON answers a script with body once the run ended, or 202 and
// the run to follow on GET /admin/cleanup while it goes on.
func cleanupJSON(c *fiber.Ctx, res models.CleanupResult, done bool, body fiber.Map) error {
	if !done {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"runId": res.RunID, "running": true})
	}
	return c.JSON(body)
}

// cleanupMessage says what an admin's cleanup did: finished (finished),
// skipped, or still going in the background.
func cleanupMessage(res models.CleanupResult, done bool, finished string) string {
	switch {
	case !done:
		return "Cleanup started. It runs in the background: its progress shows under Recent cleanup runs, and you may leave this page."
	case res.Skipped:
		return "Skipped: another cleanup is running right now; its progress shows under Recent cleanup runs."
	}
	return finished
}

func (s *Server) cleanupView(c *fiber.Ctx, msg string) (cleanupView, error) {
	runs, err := models.ListCleanupRuns(c.UserContext(), s.db, recentCleanupRuns)
	if err != nil {
		return cleanupView{}, err
	}
	v := cleanupView{Schedule: s.cfg.CleanupSchedule, NextRun: s.jobs.Next(jobs.CleanupJob), Message: msg}
	for _, r := range runs {
		row := cleanupRunRow{CleanupRun: r, Running: r.FinishedAt == nil}
		if row.Running {
			v.Running = true
			if r.Expected > 0 {
				row.Percent = int(min(100, r.Deleted*100/r.Expected))
			}
		} else {
			row.Took = formatTook(r.Duration())
		}
		v.Runs = append(v.Runs, row)
	}
	return v, nil
}

type cleanupRunJSON struct {
	models.CleanupRun
	DurationMS *int64 `json:"durationMs"`
}

func runsJSON(rows []cleanupRunRow) []cleanupRunJSON {
	out := make([]cleanupRunJSON, 0, len(rows))
	for _, r := range rows {
		j := cleanupRunJSON{CleanupRun: r.CleanupRun}
		if !r.Running {
			ms := r.Duration().Milliseconds()
			j.DurationMS = &ms
		}
		out = append(out, j)
	}
	return out
}

func nextRunJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
