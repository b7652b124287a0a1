package app

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// Forward-auth: a reverse proxy asks GET /auth/verify, with the visitor's
// cookies, before it serves a protected app. The session was already
// resolved (and, when due, refreshed) by loadSession, exactly as for
// sessiond's own pages, so verifying costs one prepared lookup and writes
// only when a refresh is due.
//
// Two protocols:
//   - nginx auth_request (X-Original-URL set, or ?mode=nginx): 200, 401 or
//     403 only. nginx cannot pass a redirect from the subrequest on; its
//     error_page 401 sends the browser back here in the other mode.
//   - Caddy forward_auth and Traefik ForwardAuth (X-Forwarded-Host/Uri):
//     200, 403, or for a visitor without a session a 302 to sign-in when
//     it is a browser (the proxy passes the answer on), else 401.
//
// The answers are the proxy's protocol, not pages, so they are written
// here rather than through the error handler, which would send a browser
// to sign in with next=/auth/verify.

// Headers the proxy copies to the upstream app on success.
const (
	headerRemoteUser   = "Remote-User"
	headerRemoteName   = "Remote-Name"
	headerRemoteEmail  = "Remote-Email"
	headerRemoteGroups = "Remote-Groups"
)

func (s *Server) handleAuthVerify(c *fiber.Ctx) error {
	role := c.Query("role")
	if role != "" && !models.ValidRole(role) {
		return badParam("role", "want admin or user")
	}
	mfa := c.Query("mfa")
	if mfa != "" && mfa != "0" && mfa != "1" {
		return badParam("mfa", "want 1 (a second factor required) or 0")
	}
	nginx := c.Query("mode") == "nginx" || c.Get("X-Original-URL") != ""
	sess := currentSession(c)
	if sess == nil {
		return s.verifyRefused(c, nginx)
	}
	if mfa == "1" && !sess.AMR.MultiFactor() {
		return s.verifyNeedsMFA(c, nginx)
	}
	if role == models.RoleAdmin && !sess.User.IsAdmin() {
		s.log.DebugContext(c.UserContext(), "forward-auth refused", "reason", "role", "user_id", sess.UserID, "want", role)
		if nginx {
			return emptyAnswer(c, fiber.StatusForbidden)
		}
		return fiber.NewError(fiber.StatusForbidden, "the "+role+" role is required")
	}
	u := sess.User
	c.Set(headerRemoteUser, headerSafe(u.Email))
	c.Set(headerRemoteName, headerSafe(u.Name))
	c.Set(headerRemoteEmail, headerSafe(u.Email))
	c.Set(headerRemoteGroups, headerSafe(u.Role))
	return emptyAnswer(c, fiber.StatusOK)
}

// emptyAnswer has no body: nginx never reads an auth_request answer's body,
// so one with a body cannot go back to the keepalive pool and every
// subrequest would open a new connection (measured: one socket per request).
func emptyAnswer(c *fiber.Ctx, status int) error {
	c.Status(status)
	c.Response().ResetBody()
	return nil
}

// verifyRefused answers a visitor without a valid session: 401 for nginx
// and non-browsers (JSON {error}), a redirect to sign-in (and back) for browsers.
func (s *Server) verifyRefused(c *fiber.Ctx, nginx bool) error {
	original := forwardedURL(c)
	if nginx {
		return emptyAnswer(c, fiber.StatusUnauthorized)
	}
	if original == "" || !strings.Contains(c.Get(fiber.HeaderAccept), fiber.MIMETextHTML) {
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": errUnauthenticated.Message})
	}
	return c.Redirect(s.loginURL(original), fiber.StatusFound)
}

// verifyNeedsMFA answers a session made without a second factor when the
// app wants one: 401 for nginx (its error page asks again in browser
// mode), a redirect to the second step and back for browsers, else 403.
func (s *Server) verifyNeedsMFA(c *fiber.Ctx, nginx bool) error {
	if nginx {
		return emptyAnswer(c, fiber.StatusUnauthorized)
	}
	original := forwardedURL(c)
	if original == "" || !strings.Contains(c.Get(fiber.HeaderAccept), fiber.MIMETextHTML) {
		return fiber.NewError(fiber.StatusForbidden, "this app requires a sign-in with a second factor")
	}
	to := "/login/mfa"
	if s.cfg.BaseURL != nil {
		to = s.cfg.BaseURL.String() + to
	}
	if next, ok := s.allowedNext(original); ok {
		to += "?next=" + url.QueryEscape(next)
	}
	return c.Redirect(to, fiber.StatusFound)
}

// forwardedURL is the URL the visitor asked the proxy for, from
// X-Forwarded-Proto/Host/Uri (Caddy, Traefik, and nginx's @login
// location); "" when the proxy did not say. It is only ever used as a
// sign-in `next`, which safeNext checks.
func forwardedURL(c *fiber.Ctx) string {
	host := c.Get(fiber.HeaderXForwardedHost)
	if host == "" {
		return ""
	}
	proto := strings.ToLower(c.Get(fiber.HeaderXForwardedProto))
	if proto != "https" {
		proto = "http"
	}
	uri := c.Get("X-Forwarded-Uri")
	if !strings.HasPrefix(uri, "/") {
		uri = "/"
	}
	return proto + "://" + host + uri
}

// loginURL is sessiond's sign-in page with next set to original when the
// round trip may return there; a URL outside the allowed hosts is dropped
// here and again by safeNext after sign-in.
func (s *Server) loginURL(original string) string {
	login := "/login"
	if s.cfg.BaseURL != nil {
		login = s.cfg.BaseURL.String() + login
	}
	if next, ok := s.allowedNext(original); ok && next != "/" {
		login += "?next=" + url.QueryEscape(next)
	}
	return login
}

// headerSafe drops control characters so a user's name can never split a
// header.
func headerSafe(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}
