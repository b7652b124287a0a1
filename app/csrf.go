package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// CSRF tokens are HMACs, so nothing is stored: a signed-in user's token is
// bound to their session (the hash of its token), a visitor's to a random
// pre-login cookie. Every instance sharing the database shares the secret,
// so a token from one validates on another.

func (s *Server) mac(kind, value string) string {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// csrfToken returns the token for forms and the meta tag, setting the
// pre-login cookie for a visitor who has none yet.
func (s *Server) csrfToken(c *fiber.Ctx) string {
	if sess := currentSession(c); sess != nil {
		return s.mac("csrf-session", sess.TokenHash)
	}
	nonce := c.Cookies(s.cfg.CSRFCookieName())
	if !models.WellFormedToken(nonce) {
		var err error
		if nonce, err = models.NewToken(); err != nil {
			return ""
		}
		s.setCookie(c, s.cfg.CSRFCookieName(), nonce, s.sessions.Now().Add(12*time.Hour), false)
		c.Request().Header.SetCookie(s.cfg.CSRFCookieName(), nonce)
	}
	return s.mac("csrf-prelogin", nonce)
}

// checkCSRF guards every state-changing request: a cross-site Origin or
// Sec-Fetch-Site is refused outright, then the token (header or form field,
// never the query string) must match the session's — or, with no session
// (or on the sign-in forms), the pre-login cookie's.
func (s *Server) checkCSRF(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if viaBearer(c) {
		return c.Next() // no cookie was used, so there is nothing to forge
	}
	if c.Get("Sec-Fetch-Site") == "cross-site" {
		return fiber.NewError(fiber.StatusForbidden, "cross-site request refused")
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && !s.sameOrigin(c, origin) {
		return fiber.NewError(fiber.StatusForbidden, "cross-origin request refused")
	}
	if c.Path() == "/api/sessions" && c.Method() == fiber.MethodPost {
		return c.Next() // only JSON is accepted there (isNativeSignIn), and it sets no cookie
	}
	got := c.Get("X-CSRF-Token")
	if got == "" {
		got = formValue(c, "_csrf")
	}
	sess := currentSession(c)
	if got == "" {
		return s.csrfRefused(c, sess, "missing CSRF token: reload the page and try again")
	}
	if sess != nil && hmac.Equal([]byte(got), []byte(s.mac("csrf-session", sess.TokenHash))) {
		return c.Next()
	}
	signInForm := c.Path() == "/login" || c.Path() == "/setup"
	if sess == nil || signInForm {
		nonce := c.Cookies(s.cfg.CSRFCookieName())
		if models.WellFormedToken(nonce) && hmac.Equal([]byte(got), []byte(s.mac("csrf-prelogin", nonce))) {
			return c.Next()
		}
	}
	return s.csrfRefused(c, sess, "invalid CSRF token: reload the page and try again")
}

// csrfRefused is 403, except when the request still carries a session
// cookie that no longer signs anyone in (expired, revoked, ended by a role
// change): its token was bound to that dead session, so the honest answer
// is "sign in again" (401, HX-Redirect for htmx). Nothing runs either way.
func (s *Server) csrfRefused(c *fiber.Ctx, sess *models.Session, msg string) error {
	if sess == nil && c.Cookies(s.cfg.CookieName()) != "" && c.Path() != "/login" && c.Path() != "/setup" {
		return errUnauthenticated
	}
	return fiber.NewError(fiber.StatusForbidden, msg)
}

// sameOrigin compares an Origin header with BASE_URL, or with the request's
// own scheme and host when BASE_URL is unset.
func (s *Server) sameOrigin(c *fiber.Ctx, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if s.cfg.BaseURL != nil {
		return strings.EqualFold(u.Scheme, s.cfg.BaseURL.Scheme) && strings.EqualFold(u.Host, s.cfg.BaseURL.Host)
	}
	return strings.EqualFold(u.Host, c.Hostname())
}
