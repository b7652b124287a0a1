package app

import (
	"github.com/gofiber/fiber/v2"
)

// handleHealthz: the process is up (no database call).
func (s *Server) handleHealthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// handleReadyz: the database answers.
func (s *Server) handleReadyz(c *fiber.Ctx) error {
	if err := s.db.Ping(c.UserContext()); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// handleMe is the minimal authenticated route: who is signed in, and until when.
func (s *Server) handleMe(c *fiber.Ctx) error {
	sess := currentSession(c)
	return c.JSON(fiber.Map{
		"user":      userJSON(sess.User),
		"sessionId": sess.ID,
		"expires":   sess.ExpiresAt,
		"expiresIn": int64(sess.ExpiresAt.Sub(s.sessions.Now()).Seconds()),
	})
}
