package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// errPendingGone: the second step was not started, took longer than
// models.PendingSignInTTL, or was already finished.
var errPendingGone = fiber.NewError(fiber.StatusUnauthorized, "this sign-in has expired or was already completed: sign in again")

// holdPending stores p and sets its cookie.
func (s *Server) holdPending(c *fiber.Ctx, p *models.PendingSignIn) error {
	now := s.sessions.Now()
	token, err := models.CreatePendingSignIn(c.UserContext(), s.db, p, now)
	if err != nil {
		return err
	}
	s.setCookie(c, s.cfg.PendingCookieName(), token, p.ExpiresAt, false)
	return nil
}

// pendingSignIn is the request's pending sign-in for one of purposes, or
// errPendingGone.
func (s *Server) pendingSignIn(c *fiber.Ctx, purposes ...string) (*models.PendingSignIn, error) {
	token := c.Cookies(s.cfg.PendingCookieName())
	if token == "" {
		return nil, errPendingGone
	}
	p, err := models.FindPendingSignIn(c.UserContext(), s.db, token, s.sessions.Now())
	switch {
	case isNotFound(err):
		return nil, errPendingGone
	case err != nil:
		return nil, err
	}
	for _, want := range purposes {
		if p.Purpose == want {
			return p, nil
		}
	}
	return nil, errPendingGone
}

func (s *Server) clearPendingCookie(c *fiber.Ctx) {
	s.setCookie(c, s.cfg.PendingCookieName(), "", s.sessions.Now(), false)
}

func isPendingGone(err error) bool { return errors.Is(err, errPendingGone) }
