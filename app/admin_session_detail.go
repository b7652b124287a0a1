package app

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// sessionDetailView is one session with its history.
type sessionDetailView struct {
	Session   *models.Session
	Events    []models.AuditEvent
	Now       time.Time
	CurrentID int64
}

// handleAdminSessionDetail shows one session: who, from where, how it was
// signed in, and its audit events; JSON gives the list's session shape
// with the events.
func (s *Server) handleAdminSessionDetail(c *fiber.Ctx) error {
	id, err := positiveID("id", c.Params("id"))
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	sess, err := models.FindSessionWithUser(ctx, s.db, id)
	if err != nil {
		return err
	}
	events, _, err := models.ListEvents(ctx, s.db, models.EventFilter{SessionID: id, Limit: 50})
	if err != nil {
		return err
	}
	now := s.sessions.Now()
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"session": sessionJSON(sess, now), "events": events})
	}
	return s.view(c, fiber.StatusOK, "admin/session", "", Page{Title: "Session " + sess.ShortHash(), Nav: "admin-sessions",
		Data: &sessionDetailView{Session: sess, Events: events, Now: now, CurrentID: currentSession(c).ID}})
}
