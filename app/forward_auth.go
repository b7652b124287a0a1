package app

import (
	"net/url"
	"strconv"
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
	d := s.verifyVerdict(c, sess, role, mfa == "1")
	switch d.verdict {
	case verdictSignIn:
		return s.verifyRefused(c, nginx)
	case verdictSecondFactor:
		return s.verifyNeedsMFA(c, nginx)
	case verdictForbidden:
		s.log.DebugContext(c.UserContext(), "forward-auth refused", "reason", d.why, "user_id", userIDOf(sess))
		if nginx {
			return emptyAnswer(c, fiber.StatusForbidden)
		}
		return fiber.NewError(fiber.StatusForbidden, d.why)
	}
	if !s.verifyRate(c, d.rules, d.rule, sess) {
		return s.verifyLimited(c, nginx)
	}
	if sess != nil {
		u := sess.User
		c.Set(headerRemoteUser, headerSafe(u.Email))
		c.Set(headerRemoteName, headerSafe(u.Name))
		c.Set(headerRemoteEmail, headerSafe(u.Email))
		c.Set(headerRemoteGroups, remoteGroups(u))
	}
	return emptyAnswer(c, fiber.StatusOK)
}

// verifyDecision is what verify decided and why: the rules in force and
// the rule that matched (nil: none, or the default), the verdict, and a
// refusal's reason for the log and the 403's message.
type verifyDecision struct {
	rules   *accessRules
	rule    *accessRule
	verdict verdict
	why     string
}

// verifyVerdict applies the access rules, when there are any, and then
// what the proxy's own URL asks (?role=admin, ?mfa=1). Without rules a
// session is needed; with them the matching rule says whether it is.
func (s *Server) verifyVerdict(c *fiber.Ctx, sess *models.Session, role string, mfa bool) verifyDecision {
	d := verifyDecision{rules: s.rules.Load()}
	if d.rules != nil {
		t, ok := s.verifyTarget(c)
		if !ok {
			d.verdict, d.why = verdictForbidden, "the proxy did not say which URL it asks about (X-Original-URL or X-Forwarded-Host from an address in TRUSTED_PROXIES)"
			return d
		}
		if d.rule, d.verdict = d.rules.decide(t, visitorOf(sess)); d.verdict != verdictAllow {
			d.why = "access rule at line " + ruleLine(d.rules, d.rule) + " does not admit you"
			return d
		}
		if role == "" && !mfa {
			return d
		}
	}
	switch {
	case sess == nil:
		d.verdict = verdictSignIn
	case mfa && !sess.AMR.MultiFactor():
		d.verdict = verdictSecondFactor
	case role == models.RoleAdmin && !sess.User.IsAdmin():
		d.verdict, d.why = verdictForbidden, "the "+role+" role is required"
	}
	return d
}

// verifyTarget is the request the proxy asks about: from X-Original-URL
// (nginx) or X-Forwarded-Host/Uri (Caddy, Traefik), with the method from
// X-Original-Method or X-Forwarded-Method. Only a trusted proxy is
// believed; anyone else could name a bypassed URL to get a yes.
func (s *Server) verifyTarget(c *fiber.Ctx) (accessTarget, bool) {
	if !s.isTrusted(c.Context().RemoteIP().String()) {
		return accessTarget{}, false
	}
	method := c.Get("X-Original-Method")
	if method == "" {
		method = c.Get("X-Forwarded-Method")
	}
	if raw := c.Get("X-Original-URL"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			return accessTarget{}, false
		}
		return newAccessTarget(u.Host, u.EscapedPath(), method)
	}
	uri := c.Get("X-Forwarded-Uri")
	if uri == "" {
		uri = "/"
	}
	return newAccessTarget(c.Get(fiber.HeaderXForwardedHost), uri, method)
}

// ruleLine names the rule that decided: its line, or the default's.
func ruleLine(rules *accessRules, r *accessRule) string {
	if r != nil {
		return strconv.Itoa(r.Line)
	}
	if rules.DefaultLine > 0 {
		return strconv.Itoa(rules.DefaultLine) + " (default)"
	}
	return "(default)"
}

func userIDOf(sess *models.Session) int64 {
	if sess == nil {
		return 0
	}
	return sess.UserID
}

// emptyAnswer has no body: nginx never reads an auth_request answer's body,
// so one with a body cannot go back to the keepalive pool and every
// subrequest would open a new connection.
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

// remoteGroups is the Remote-Groups header: the role, then the groups
// (whose names are already header-safe: see models.ValidGroupName).
func remoteGroups(u *models.User) string {
	if u.GroupNames == "" {
		return headerSafe(u.Role)
	}
	return headerSafe(u.Role) + "," + u.GroupNames
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
