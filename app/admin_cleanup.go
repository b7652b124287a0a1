package app

import (
	"bytes"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// recentCleanupRuns is how many runs the dashboard lists.
const recentCleanupRuns = 20

// cleanupView is the runs fragment's data.
type cleanupView struct {
	Runs     []cleanupRunRow
	Schedule string
	NextRun  time.Time // zero when not scheduled
	Message  string    // the outcome of "Run now" (full-page form post)
}

type cleanupRunRow struct {
	models.CleanupRun
	Took    string // "" while running
	Running bool
}

// handleCleanupRuns lists recent cleanup runs: the fragment the sessions
// dashboard loads, a page of its own, or JSON.
func (s *Server) handleCleanupRuns(c *fiber.Ctx) error {
	v, err := s.cleanupView(c, "")
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"runs": runsJSON(v.Runs), "schedule": v.Schedule, "nextRun": nextRunJSON(v.NextRun)})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.view(c, fiber.StatusOK, "admin/cleanup", "admin/cleanup_runs", Page{Title: "Cleanup runs", Nav: "admin-cleanup", Data: v})
}

// handleCleanupRun runs a cleanup now on behalf of the admin. htmx gets
// the refreshed fragment, the outcome as a toast, and sessions-changed so
// the rest of the dashboard refreshes too.
func (s *Server) handleCleanupRun(c *fiber.Ctx) error {
	res, err := s.cleanup(c.UserContext(), models.TriggerAdmin, s.audit(c))
	if err != nil {
		return err
	}
	msg := "Removed " + plural(res.Deleted, "expired session") + "."
	if res.Skipped {
		msg = "Skipped: another instance is running cleanup right now."
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": res.Deleted, "eventsPruned": res.EventsPruned, "skipped": res.Skipped, "runId": res.RunID})
	}
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

func (s *Server) cleanupView(c *fiber.Ctx, msg string) (cleanupView, error) {
	runs, err := models.ListCleanupRuns(c.UserContext(), s.db, recentCleanupRuns)
	if err != nil {
		return cleanupView{}, err
	}
	v := cleanupView{Schedule: s.cfg.CleanupSchedule, NextRun: s.jobs.Next(cleanupJobName), Message: msg}
	for _, r := range runs {
		row := cleanupRunRow{CleanupRun: r, Running: r.FinishedAt == nil}
		if !row.Running {
			row.Took = formatTook(r.Duration())
		}
		v.Runs = append(v.Runs, row)
	}
	return v, nil
}

func formatTook(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
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
