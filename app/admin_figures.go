package app

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// dashboardTTL bounds how stale the dashboard's whole-table figures may be.
// The counts poll every 10 s per open dashboard and each is a scan of a
// big table, so they are computed at most this often — or at once after an
// admin's change on this instance (forgetFigures).
const dashboardTTL = 5 * time.Second

// figures holds the two whole-table figures of the sessions console: the
// stats tiles and the unfiltered list's total.
type figures struct {
	stats memo[*models.SessionStats]
	total memo[models.SessionCount]
}

// sessionStats is models.GetSessionStats, at most dashboardTTL old.
func (s *Server) sessionStats(ctx context.Context, now time.Time) (*models.SessionStats, error) {
	st, err := s.figures.stats.get(dashboardTTL, func() (*models.SessionStats, error) {
		return models.GetSessionStats(ctx, s.db, now)
	})
	if err != nil {
		return nil, err
	}
	cp := *st // the memo's copy stays as read
	return &cp, nil
}

// listSessions is models.ListSessions; an unfiltered list reuses a total
// at most dashboardTTL old instead of counting the whole table per page.
func (s *Server) listSessions(ctx context.Context, filter models.SessionFilter, now time.Time) (*models.SessionList, error) {
	if filter.Unfiltered() {
		total, err := s.figures.total.get(dashboardTTL, func() (models.SessionCount, error) {
			return models.CountSessions(ctx, s.db, filter, now)
		})
		if err != nil {
			return nil, err
		}
		filter.KnownTotal = &total
	}
	return models.ListSessions(ctx, s.db, filter, now)
}

// forgetFigures drops the cached figures after every state-changing admin
// request, so the counts an admin sees after an action include it.
func (s *Server) forgetFigures(c *fiber.Ctx) error {
	err := c.Next()
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		s.figures.stats.forget()
		s.figures.total.forget()
	}
	return err
}
