package app

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// handleAdminUsersReset2FA rescues a user who lost their second factors:
// every factor and recovery code goes, and so does every session of the
// user (a session made with the lost factor must not outlive it). The
// user signs in with the password next and, when the policy requires,
// enrols again.
func (s *Server) handleAdminUsersReset2FA(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	a := s.audit(c)
	n, err := models.ResetFactors(c.UserContext(), s.db, u.ID, a, s.sessions.Now())
	if err != nil {
		return err
	}
	s.logAdmin(c, "admin reset second factors", "user_id", u.ID, "sessions_ended", n)
	if u.ID == a.ActorID {
		s.clearSessionCookie(c)
	}
	switch {
	case wantsJSON(c):
		return c.JSON(fiber.Map{"userId": u.ID, "deleted": n})
	case u.ID == a.ActorID:
		return redirect(c, "/login")
	}
	return s.usersChanged(c, fiber.StatusOK, fmt.Sprintf("Reset the second factors of %s: %s ended.", u.Email, sessionsPhrase(n)), false)
}
