package app

import (
	"context"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// errBadCredentials is the one answer to a failed sign-in, whatever failed.
var errBadCredentials = fiber.NewError(fiber.StatusUnauthorized, "invalid email or password")

type loginView struct {
	Notice    string // why the user is here again (their session ended)
	Email     string
	Next      string
	Error     string
	Providers []providerView
}

func (s *Server) handleLoginForm(c *fiber.Ctx) error {
	next, _ := s.allowedNext(c.Query("next"))
	if currentSession(c) != nil {
		return redirect(c, s.safeNext(next))
	}
	s.allowNextOrigin(c, next)
	return s.view(c, fiber.StatusOK, "auth/login", "", Page{Title: "Sign in", Data: loginView{Notice: s.endedNotice(c), Next: next, Providers: s.providerViews()}})
}

// endedNotice says why a browser whose cookie no longer signs it in is
// back at the sign-in page: its session expired, or it was ended (signed
// out elsewhere, by an admin, or by a password or role change).
func (s *Server) endedNotice(c *fiber.Ctx) string {
	token := c.Cookies(s.cfg.CookieName())
	if token == "" || !models.WellFormedToken(token) {
		return ""
	}
	sess, err := s.sessions.GetSessionWithUser(c.UserContext(), token)
	switch {
	case err == nil && sess.Expired(s.sessions.Now()):
		return "Your session expired — sign in again to continue."
	case err == nil:
		return ""
	case !isNotFound(err):
		return "Your session ended — sign in again."
	}
	ended, err := models.FindEnded(c.UserContext(), s.db, token)
	if err != nil {
		return "Your session ended — sign in again."
	}
	return strings.TrimSpace("Your session ended — sign in again. " + endedReason(ended))
}

// allowNextOrigin widens a sign-in page's form-action to exactly the
// origin of an absolute next, so the redirect after signing in is not
// blocked by the browser. Every page whose form can end a sign-in calls
// it; next must have passed allowedNext.
func (s *Server) allowNextOrigin(c *fiber.Ctx, next string) {
	if strings.HasPrefix(next, "/") {
		return // same site: 'self' covers it
	}
	if u, err := url.Parse(next); err == nil && u.Host != "" {
		s.allowFormRedirect(c, u.Scheme+"://"+u.Host)
	}
}

// handleLogin checks the password and starts a new session. Unknown email
// and wrong password answer the same, after the same work.
func (s *Server) handleLogin(c *fiber.Ctx) error {
	email := models.NormalizeEmail(formValue(c, "email"))
	password := formValue(c, "password")
	next := formValue(c, "next")
	user, err := s.passwordStep(c, email, password, next)
	if user == nil {
		return err
	}
	r, err := s.startSession(c, signIn{user: user, amr: models.MethodPassword, next: next})
	if err != nil {
		return err
	}
	return s.finishSignIn(c, r, next)
}

// passwordStep checks a password sign-in under the shared throttle: the
// user, or nil once the refusal has been answered (or err).
func (s *Server) passwordStep(c *fiber.Ctx, email, password, next string) (*models.User, error) {
	switch {
	case email == "" || password == "":
		return nil, s.loginFailed(c, fiber.StatusBadRequest, "email and password are required", email, next)
	case len(password) > models.MaxPasswordBytes || len(email) > 254:
		return nil, s.loginFailed(c, fiber.StatusBadRequest, "email or password too long", email, next)
	}
	client := s.client(c)
	ctx := c.UserContext()
	attempt, err := s.throttle.begin(ctx, models.ScopeAccount, email, client.IP)
	if err != nil {
		return nil, err
	}
	if attempt.wait != "" {
		c.Set(fiber.HeaderRetryAfter, attempt.wait)
		s.recordThrottled(c, email)
		return nil, s.loginFailed(c, fiber.StatusTooManyRequests, "too many sign-in attempts, try again later", email, next)
	}
	user, err := s.checkCredentials(ctx, email, password)
	switch {
	case err == errBadCredentials:
		s.recordFailedSignIn(c, email, user)
		return nil, s.loginFailed(c, fiber.StatusUnauthorized, errBadCredentials.Message, email, next)
	case err != nil:
		s.notJudged(ctx, attempt)
		if err == errBusy {
			c.Set(fiber.HeaderRetryAfter, retryAfterBusy)
			return nil, s.loginFailed(c, fiber.StatusServiceUnavailable, errBusy.Message, email, next)
		}
		return nil, err
	}
	if err := s.throttle.succeeded(ctx, attempt); err != nil {
		return nil, err
	}
	return user, nil
}

// checkCredentials verifies under the hashing limit; a user is returned
// with errBadCredentials when the email matched but the password did not.
func (s *Server) checkCredentials(ctx context.Context, email, password string) (*models.User, error) {
	if err := s.hashers.Acquire(ctx); err != nil {
		return nil, err
	}
	defer s.hashers.Release()
	user, err := models.FindUserByEmail(ctx, s.db.Read, email)
	if isNotFound(err) {
		models.VerifyDummy(password)
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if !models.VerifyPassword(user.PasswordHash, password) {
		return user, errBadCredentials
	}
	return user, nil
}

func (s *Server) recordFailedSignIn(c *fiber.Ctx, email string, user *models.User) {
	ev := &models.Event{At: s.sessions.Now(), Kind: models.EventSignInFailed, IP: s.clientIP(c), UserAgent: clip(c.Get(fiber.HeaderUserAgent), 512)}
	if user != nil {
		ev.UserID = &user.ID
		ev.Detail = "email=" + email
	}
	if err := models.RecordEvent(c.UserContext(), s.db, ev); err != nil {
		s.log.WarnContext(c.UserContext(), "record failed sign-in", "error", err)
	}
	s.log.InfoContext(c.UserContext(), "sign-in failed", "known_user", user != nil, "ip", ev.IP)
}

// recordThrottled notes a refused sign-in attempt in the audit trail (and
// so for webhooks); the email is the one typed, which may be no account.
func (s *Server) recordThrottled(c *fiber.Ctx, email string) {
	ev := &models.Event{At: s.sessions.Now(), Kind: models.EventSignInThrottled, IP: s.clientIP(c),
		UserAgent: clip(c.Get(fiber.HeaderUserAgent), 512), Detail: "email=" + clip(email, 254)}
	if err := models.RecordEvent(c.UserContext(), s.db, ev); err != nil {
		s.log.WarnContext(c.UserContext(), "record throttled sign-in", "error", err)
	}
}

func (s *Server) loginFailed(c *fiber.Ctx, status int, msg, email, next string) error {
	if wantsJSONError(c) {
		return c.Status(status).JSON(fiber.Map{"error": msg})
	}
	next, _ = s.allowedNext(next)
	s.allowNextOrigin(c, next)
	return s.view(c, status, "auth/login", "", Page{Title: "Sign in", Data: loginView{Email: email, Next: next, Error: msg, Providers: s.providerViews()}})
}

// handleLogout ends the session (POST only, CSRF-checked) and clears the
// cookie with the attributes it was set with.
func (s *Server) handleLogout(c *fiber.Ctx) error {
	n := 0
	if token := c.Cookies(s.cfg.CookieName()); token != "" {
		var err error
		if n, err = s.sessions.DeleteSession(c.UserContext(), token, s.audit(c)); err != nil {
			return err
		}
	}
	s.clearSessionCookie(c)
	if sess := currentSession(c); sess != nil {
		s.log.InfoContext(c.UserContext(), "signed out", "user_id", sess.UserID, "session_id", sess.ID)
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": n})
	}
	if rd, ok := s.allowedNext(formValue(c, "rd")); ok {
		return redirect(c, rd)
	}
	return redirect(c, "/login")
}

// handleLogoutForm is the sign-out link an app behind forward-auth shows
// (/logout?rd=URL): a confirm page, since a GET must not end a session (any
// site could link to it). Its POST ends the session, which ends access to
// every app the proxy guards, and goes to rd when rd is allowed as a
// sign-in's next is; an rd that is not is dropped.
func (s *Server) handleLogoutForm(c *fiber.Ctx) error {
	rd, ok := s.allowedNext(c.Query("rd"))
	if currentSession(c) == nil {
		if ok {
			return redirect(c, rd)
		}
		return redirect(c, "/login")
	}
	back := "/"
	if ok {
		back = rd
		s.allowNextOrigin(c, rd)
	}
	return s.view(c, fiber.StatusOK, "auth/logout", "", Page{Title: "Sign out", Data: fiber.Map{"Rd": rd, "Back": back}})
}

func (s *Server) handleHome(c *fiber.Ctx) error {
	return s.view(c, fiber.StatusOK, "home/index", "", Page{Title: "Home", Nav: "home"})
}

// safeNext keeps post-login redirects on this site: a same-site path, or an
// absolute URL on a host allowed for forward-auth round trips; "/" otherwise.
func (s *Server) safeNext(next string) string {
	if v, ok := s.allowedNext(next); ok {
		return v
	}
	return "/"
}

// allowedNext returns next (normalised) and true when sign-in may return
// there: a path on this site (not //host or /\host), or an http(s) URL
// without userinfo whose host is allowed. Anything unusual is refused.
func (s *Server) allowedNext(next string) (string, bool) {
	if next == "" || len(next) > 2048 || strings.ContainsAny(next, "\\") || hasControl(next) {
		return "", false
	}
	u, err := url.Parse(next)
	if err != nil {
		return "", false
	}
	if u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == "" &&
		strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") {
		return next, true
	}
	if (u.Scheme == "https" || u.Scheme == "http") && u.User == nil && u.Opaque == "" &&
		strings.HasPrefix(strings.ToLower(next), u.Scheme+"://") && s.allowedRedirectHost(u) {
		return u.String(), true
	}
	return "", false
}

// allowedRedirectHost: COOKIE_DOMAIN and its subdomains, else BASE_URL's
// host (and port); over https only https. A host must be a plain DNS name
// or IPv4 address, so no encoding trick can make it read differently.
func (s *Server) allowedRedirectHost(u *url.URL) bool {
	if s.cfg.Secure() && u.Scheme != "https" {
		return false
	}
	host := u.Hostname()
	if host == "" || strings.Trim(strings.ToLower(host), "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return false
	}
	if port := u.Port(); strings.Trim(port, "0123456789") != "" || strings.HasSuffix(u.Host, ":") {
		return false
	}
	if s.cfg.CookieDomain != "" {
		return hostWithin(host, s.cfg.CookieDomain)
	}
	return s.cfg.BaseURL != nil && strings.EqualFold(u.Host, s.cfg.BaseURL.Host)
}

func hasControl(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return true
		}
	}
	return false
}

// apiUser is DESIGN.md's user shape in JSON answers. A struct, not a map:
// it encodes in a fraction of the time, and /api/me runs it per request.
type apiUser struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

func userJSON(u *models.User) apiUser {
	return apiUser{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role}
}
