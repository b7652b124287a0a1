package app

import (
	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// startSession is where every way of signing in ends: the user has proved
// who they are, so the session the request arrived with (perhaps another
// user's) ends, a new one begins and its cookie is set. Checks that apply
// to every method (may this user sign in at all, how the session was made,
// where from) belong here, once.
func (s *Server) startSession(c *fiber.Ctx, user *models.User) (*models.Session, error) {
	if old := c.Cookies(s.cfg.CookieName()); old != "" {
		if _, err := s.sessions.DeleteSession(c.UserContext(), old, s.audit(c)); err != nil {
			return nil, err
		}
	}
	token, sess, err := s.sessions.SignIn(c.UserContext(), user.ID, s.client(c))
	if err != nil {
		return nil, err
	}
	s.setSessionCookie(c, token, sess.ExpiresAt)
	s.log.InfoContext(c.UserContext(), "signed in", "user_id", user.ID, "session_id", sess.ID)
	return sess, nil
}
