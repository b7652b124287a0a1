package app

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// dashboardTTL bounds how stale the dashboard's whole-table figures may be.
// The counts poll every 10 s per open dashboard and each is a scan of a
// big table, so they are computed at most this often — or at once after an
// admin's change on this instance (forgetFigures).
const dashboardTTL = 5 * time.Second

// figures caches the two whole-table figures of the sessions console: the
// stats tiles and the unfiltered list's total.
type figures struct {
	mu      sync.Mutex
	stats   *models.SessionStats
	statsAt time.Time
	total   int
	totalAt time.Time
}

// sessionStats is models.GetSessionStats, at most dashboardTTL old.
func (s *Server) sessionStats(ctx context.Context, now time.Time) (*models.SessionStats, error) {
	f := &s.figures
	f.mu.Lock()
	if f.stats != nil && time.Since(f.statsAt) < dashboardTTL {
		st := *f.stats
		f.mu.Unlock()
		return &st, nil
	}
	f.mu.Unlock()
	st, err := models.GetSessionStats(ctx, s.db, now)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.stats, f.statsAt = st, time.Now()
	f.mu.Unlock()
	return st, nil
}

// listSessions is models.ListSessions; an unfiltered list reuses a total
// at most dashboardTTL old instead of counting the whole table per page.
func (s *Server) listSessions(ctx context.Context, filter models.SessionFilter, now time.Time) (*models.SessionList, error) {
	unfiltered := filter.UserID == 0 && filter.Q == "" && (filter.Status == "" || filter.Status == models.StatusAll)
	f := &s.figures
	if unfiltered {
		f.mu.Lock()
		if !f.totalAt.IsZero() && time.Since(f.totalAt) < dashboardTTL {
			filter.KnownTotal = &f.total
		}
		f.mu.Unlock()
	}
	list, err := models.ListSessions(ctx, s.db, filter, now)
	if err == nil && unfiltered && filter.KnownTotal == nil {
		f.mu.Lock()
		f.total, f.totalAt = list.Total, time.Now()
		f.mu.Unlock()
	}
	return list, err
}

// forgetFigures drops the cached figures after every state-changing admin
// request, so the counts an admin sees after an action include it.
func (s *Server) forgetFigures(c *fiber.Ctx) error {
	err := c.Next()
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		f := &s.figures
		f.mu.Lock()
		f.stats, f.totalAt = nil, time.Time{}
		f.mu.Unlock()
	}
	return err
}
