package app

import (
	"time"

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
	return c.JSON(meJSON{
		User: userJSON(sess.User), SessionID: sess.ID, Expires: sess.ExpiresAt,
		ExpiresIn: int64(sess.ExpiresAt.Sub(s.sessions.Now()).Seconds()),
	})
}

// meJSON is the answer of /api/me.
type meJSON struct {
	User      apiUser   `json:"user"`
	SessionID int64     `json:"sessionId"`
	Expires   time.Time `json:"expires"`
	ExpiresIn int64     `json:"expiresIn"`
}
