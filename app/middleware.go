package app

import (
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

const (
	localsSession   = "session"
	localsRequestID = "request_id"
)

// requestIDs gives every request an id for logs and error pages.
func (s *Server) requestIDs(c *fiber.Ctx) error {
	id := newRequestID()
	c.Locals(localsRequestID, id)
	c.Response().Header.SetCanonical(headerRequestID, []byte(id))
	return c.Next()
}

var headerRequestID = []byte("X-Request-Id")

// newRequestID is 96 random bits as 16 base64url characters. It tells log
// lines apart and is shown to the user, but guards nothing, so it comes
// from the runtime's fast generator rather than a getrandom call.
func newRequestID() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
	var out [16]byte
	base64.RawURLEncoding.Encode(out[:], b[:])
	return string(out[:])
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localsRequestID).(string)
	return id
}

// contentSecurityPolicy is a CSP htmx works under (no inline script).
// Forms may also end on the sign-in providers' pages and on extra origins:
// browsers apply form-action to the redirects that follow a form post, and
// a provider's sign-in button posts here and is redirected there.
func contentSecurityPolicy(formOrigins []string) string {
	formAction := "'self'"
	for _, o := range formOrigins {
		if o != "" && !strings.Contains(formAction, " "+o) {
			formAction += " " + o
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
}

const headerCSP = "Content-Security-Policy"

// refreshCSP builds the policy again: a provider's discovery may have
// found its sign-in page on another origin than its issuer.
func (s *Server) refreshCSP() {
	csp := contentSecurityPolicy(s.providerOrigins())
	s.csp.Store(&csp)
}

// allowFormRedirect lets this page's form end on origin as well as on
// sessiond and the providers: a sign-in whose next is another host
// (forward-auth) would otherwise stop on the form. origin is
// scheme://host[:port] of a next that allowedNext accepted, so it holds
// no character that could end the directive.
func (s *Server) allowFormRedirect(c *fiber.Ctx, origin string) {
	c.Set(headerCSP, contentSecurityPolicy(append(s.providerOrigins(), origin)))
}

// securityHeaders: a strict CSP, no framing, no sniffing, no caching of
// anything dynamic.
var (
	securityHeaderValues = [][2][]byte{
		{[]byte("X-Content-Type-Options"), []byte("nosniff")},
		{[]byte("X-Frame-Options"), []byte("DENY")},
		{[]byte("Referrer-Policy"), []byte("same-origin")},
	}
	headerHSTS    = [2][]byte{[]byte("Strict-Transport-Security"), []byte("max-age=63072000; includeSubDomains")}
	headerNoStore = [2][]byte{[]byte("Cache-Control"), []byte("no-store")}
	headerVary    = [2][]byte{[]byte("Vary"), []byte("Accept, Authorization")}
)

func (s *Server) securityHeaders(c *fiber.Ctx) error {
	// Names spelled canonically and set as bytes: fasthttp then skips
	// normalizing each one, on every request.
	h := &c.Response().Header
	h.Set(headerCSP, *s.csp.Load()) // a string: as bytes it would be copied per request
	for _, kv := range securityHeaderValues {
		h.SetCanonical(kv[0], kv[1])
	}
	if s.cfg.Secure() {
		h.SetCanonical(headerHSTS[0], headerHSTS[1])
	}
	if !strings.HasPrefix(c.Path(), "/static/") {
		// JSON or HTML, a page or a redirect: every dynamic answer depends
		// on Accept and Authorization.
		h.SetCanonical(headerNoStore[0], headerNoStore[1])
		h.SetCanonical(headerVary[0], headerVary[1])
	}
	return c.Next()
}

// allow is the Allow header of every 405: the methods sessiond documents.
const allow = "GET, HEAD, POST, DELETE"

// allowedMethods: only the methods in allow; TRACE, PUT and anything
// unknown get 405.
func allowedMethods(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodDelete:
		return c.Next()
	}
	c.Set(fiber.HeaderAllow, allow)
	return fiber.NewError(fiber.StatusMethodNotAllowed, "method not allowed")
}

// loadSession resolves the session cookie once per request. A missing,
// malformed, unknown or expired cookie is simply "not signed in"; only a
// database failure is an error (503), never a silent sign-out.
func (s *Server) loadSession(c *fiber.Ctx) error {
	if h := c.Get(fiber.HeaderAuthorization); h != "" && (c.Path() != "/auth/verify" || sessionBearer(h)) {
		return s.loadBearer(c, h)
	}
	token := c.Cookies(s.cfg.CookieName())
	if token == "" {
		return c.Next()
	}
	v, err := s.sessions.Authenticate(c.UserContext(), token, func() models.Client { return s.client(c) })
	switch {
	case err == nil:
		c.Locals(localsSession, v.Session)
		if v.Extended {
			s.setSessionCookie(c, token, v.Session.ExpiresAt)
		}
		if s.log.Enabled(c.UserContext(), slog.LevelDebug) { // spare every request the attributes' allocations
			s.log.DebugContext(c.UserContext(), "session valid", "session_id", v.Session.ID, "user_id", v.Session.UserID, "extended", v.Extended)
		}
	case isNotFound(err):
		s.log.DebugContext(c.UserContext(), "session cookie refused", "reason", err.Error())
	default:
		return err
	}
	return c.Next()
}

// currentSession is the request's validated session (with its user), or nil.
func currentSession(c *fiber.Ctx) *models.Session {
	sess, _ := c.Locals(localsSession).(*models.Session)
	return sess
}

// requireUser guards routes for any signed-in user.
func requireUser(c *fiber.Ctx) error {
	if currentSession(c) == nil {
		return errUnauthenticated
	}
	return c.Next()
}

// requireAdmin guards every /admin route and fragment. The role comes only
// from the server-side session, never from the request.
func requireAdmin(c *fiber.Ctx) error {
	sess := currentSession(c)
	if sess == nil {
		return errUnauthenticated
	}
	if !sess.User.IsAdmin() {
		return fiber.NewError(fiber.StatusForbidden, "admins only")
	}
	return c.Next()
}

// clientIP is the peer address, or — when the peer is a trusted proxy — the
// nearest untrusted address in X-Forwarded-For, so a client cannot pick
// its own IP by sending the header.
func (s *Server) clientIP(c *fiber.Ctx) string {
	return s.clientIPFrom(c.Context().RemoteIP().String(), c.Get(fiber.HeaderXForwardedFor))
}

func (s *Server) clientIPFrom(peer, forwardedFor string) string {
	if len(s.trusted) == 0 || !s.isTrusted(peer) || forwardedFor == "" {
		return peer
	}
	parts := strings.Split(forwardedFor, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		ip := strings.TrimSpace(parts[i])
		if net.ParseIP(ip) == nil {
			break
		}
		if !s.isTrusted(ip) {
			return ip
		}
	}
	return peer
}

func (s *Server) isTrusted(ip string) bool {
	addr := net.ParseIP(ip)
	for _, n := range s.trusted {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

func parseTrusted(list []string) []*net.IPNet {
	var out []*net.IPNet
	for _, p := range list {
		if !strings.Contains(p, "/") {
			if strings.Contains(p, ":") {
				p += "/128"
			} else {
				p += "/32"
			}
		}
		if _, n, err := net.ParseCIDR(p); err == nil {
			out = append(out, n)
		}
	}
	return out
}
