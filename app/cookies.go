package app

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// setSessionCookie issues the session cookie; its Max-Age never passes the
// server-side expiry.
func (s *Server) setSessionCookie(c *fiber.Ctx, token string, expires time.Time) {
	s.setCookie(c, s.cfg.CookieName(), token, expires, true)
}

// clearSessionCookie deletes the cookie with the same attributes it was
// set with (Fiber's ClearCookie would drop Path and Secure).
func (s *Server) clearSessionCookie(c *fiber.Ctx) {
	s.setCookie(c, s.cfg.CookieName(), "", time.Time{}, true)
}

func (s *Server) setCookie(c *fiber.Ctx, name, value string, expires time.Time, useDomain bool) {
	ck := &fiber.Cookie{
		Name: name, Value: value, Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: s.cfg.Secure(),
	}
	if useDomain && s.cfg.CookieDomain != "" {
		ck.Domain = s.cfg.CookieDomain
	}
	if value == "" {
		ck.MaxAge = -1
		ck.Expires = time.Unix(0, 0)
	} else {
		ck.MaxAge = int(expires.Sub(s.sessions.Now()).Seconds())
		if ck.MaxAge < 1 {
			ck.MaxAge = 1
		}
		ck.Expires = expires
	}
	c.Cookie(ck)
}
