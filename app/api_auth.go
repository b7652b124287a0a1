package app

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// Bearer credentials: an API token (sdt_…) acts as its owner within its
// scopes on the JSON routes; a session token from POST /api/sessions acts
// as that session on the few routes a native client needs. Neither needs a
// CSRF token: a browser never attaches an Authorization header on its own.

const (
	localsToken  = "api_token"
	localsBearer = "bearer"
)

// touchEvery: how stale a token's last-used note may get before a request
// writes it again.
const touchEvery = time.Minute

// apiToken is the API token the request authenticated with, or nil.
func apiToken(c *fiber.Ctx) *models.APIToken {
	t, _ := c.Locals(localsToken).(*models.APIToken)
	return t
}

// viaBearer reports whether the request authenticated with an
// Authorization header rather than the cookie.
func viaBearer(c *fiber.Ctx) bool { return c.Locals(localsBearer) != nil }

var errBadAuthorization = fiber.NewError(fiber.StatusBadRequest, `Authorization: want "Bearer <token>"`)

// invalidToken is a 401 that says why in the WWW-Authenticate header too.
func invalidToken(c *fiber.Ctx, msg string) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
	return fiber.NewError(fiber.StatusUnauthorized, msg)
}

// bearerRoutes are where a session token may stand in for the cookie.
func sessionBearerRoute(c *fiber.Ctx) bool {
	p := c.Path()
	return p == "/api/me" || p == "/auth/verify" || p == "/api/sessions/current"
}

// sessionBearer reports whether h carries a session token. On
// /auth/verify nothing else in Authorization is ours: the proxy forwards
// the visitor's headers, which may hold the protected app's own credentials.
func sessionBearer(h string) bool {
	scheme, cred, ok := strings.Cut(h, " ")
	return ok && strings.EqualFold(scheme, "Bearer") && models.WellFormedToken(cred)
}

// loadBearer authenticates the Authorization header; the cookie is then
// not consulted, so a bearer request is never also a cookie request.
func (s *Server) loadBearer(c *fiber.Ctx, header string) error {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" || strings.ContainsAny(cred, " \t,") {
		return errBadAuthorization
	}
	c.Locals(localsBearer, true)
	if strings.HasPrefix(cred, models.APITokenPrefix) {
		return s.loadAPIToken(c, cred)
	}
	if !sessionBearerRoute(c) {
		return fiber.NewError(fiber.StatusForbidden, "a session token is accepted only on /api/me, /auth/verify and /api/sessions/current; use an API token")
	}
	v, err := s.sessions.Authenticate(c.UserContext(), cred, func() models.Client { return s.client(c) })
	switch {
	case isNotFound(err):
		return invalidToken(c, "invalid or expired session token")
	case err != nil:
		return err
	}
	c.Locals(localsSession, v.Session)
	return c.Next()
}

func (s *Server) loadAPIToken(c *fiber.Ctx, secret string) error {
	ctx := c.UserContext()
	now := s.sessions.Now()
	tok, err := models.FindAPIToken(ctx, s.db, secret, now)
	switch {
	case isNotFound(err):
		return invalidToken(c, "invalid, expired or revoked API token")
	case err != nil:
		return err
	}
	scope, ok := routeScope(c.Method(), c.Path())
	if !ok {
		return fiber.NewError(fiber.StatusForbidden, "API tokens cannot be used on this route")
	}
	if scope != "" && !tok.Allows(scope) {
		return fiber.NewError(fiber.StatusForbidden, "this token lacks the "+scope+" scope")
	}
	ip := s.clientIP(c)
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) >= touchEvery || tok.LastUsedIP != ip {
		if err := models.TouchAPIToken(ctx, s.db, tok.ID, ip, now); err != nil {
			return err
		}
	}
	// The owner acts, through a session that exists only for this request.
	c.Locals(localsSession, &models.Session{UserID: tok.UserID, User: tok.User, ExpiresAt: now})
	c.Locals(localsToken, tok)
	return c.Next()
}

// routeScope is the scope a route needs from an API token ("" for any
// token), and false where tokens are not accepted at all.
func routeScope(method, path string) (string, bool) {
	read := method == fiber.MethodGet || method == fiber.MethodHead
	pick := func(r, w string) (string, bool) {
		if read {
			return r, true
		}
		return w, true
	}
	switch {
	case path == "/api/me":
		return "", read
	case under(path, "/admin/sessions"), under(path, "/account/sessions"):
		return pick(models.ScopeSessionsRead, models.ScopeSessionsWrite)
	case under(path, "/admin/users"):
		return pick(models.ScopeUsersRead, models.ScopeUsersWrite)
	case under(path, "/admin/audit"), path == "/admin/audit.csv", under(path, "/admin/insights"):
		return models.ScopeAuditRead, read
	}
	return "", false
}

// under reports whether path is prefix or below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
