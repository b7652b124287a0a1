package app

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// accountSessionsView is the data of the "Your sessions" page and fragment.
type accountSessionsView struct {
	Sessions  []models.Session // as the API lists them
	Rows      []models.Session // as the page shows them: this device first
	CurrentID int64
	Others    int
	Now       time.Time
}

// handleAccountSessions lists the signed-in user's live sessions, the
// current one marked.
func (s *Server) handleAccountSessions(c *fiber.Ctx) error {
	cur := currentSession(c)
	v, err := s.accountSessions(c, cur)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		list := make([]fiber.Map, 0, len(v.Sessions))
		for i := range v.Sessions {
			list = append(list, accountSessionJSON(&v.Sessions[i], cur, v.Now))
		}
		return c.JSON(fiber.Map{"sessions": list, "page": 1, "limit": len(list), "total": len(list), "totalPages": 1})
	}
	return s.view(c, fiber.StatusOK, "account/sessions", "account/sessions_table", Page{Title: "Your sessions", Nav: "account-sessions", Data: v})
}

func (s *Server) accountSessions(c *fiber.Ctx, cur *models.Session) (accountSessionsView, error) {
	list, err := s.sessions.GetUserActiveSessions(c.UserContext(), cur.UserID)
	if err != nil {
		return accountSessionsView{}, err
	}
	v := accountSessionsView{Sessions: list, CurrentID: cur.ID, Now: s.sessions.Now()}
	for _, x := range list {
		if x.ID == cur.ID {
			v.Rows = append([]models.Session{x}, v.Rows...)
		} else {
			v.Others++
			v.Rows = append(v.Rows, x)
		}
	}
	return v, nil
}

// accountSessionJSON is DESIGN.md's session shape plus what the account
// page shows: the device and whether it is the caller's own.
func accountSessionJSON(x *models.Session, cur *models.Session, now time.Time) fiber.Map {
	status := "active"
	if x.Expired(now) {
		status = "expired"
	}
	return fiber.Map{
		"id": x.ID, "sessionToken": x.ShortHash(), "userId": x.UserID, "user": userJSON(cur.User),
		"createdAt": x.CreatedAt, "lastSeenAt": x.LastSeenAt, "expires": x.ExpiresAt,
		"expiresIn": int64(x.ExpiresAt.Sub(now).Seconds()), "status": status,
		"ip": x.IP, "userAgent": x.UserAgent, "device": describeDevice(x.UserAgent), "current": x.ID == cur.ID,
		"amr": x.AMR.List(), "strongAt": timeOrNil(x.StrongAt), "provider": stringOrNil(x.Provider),
	}
}

// handleAccountSessionRevoke signs out one of the user's own other
// sessions. Another user's id is 404 (and that session lives on); the
// current session is sign-out's job.
func (s *Server) handleAccountSessionRevoke(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return badParam("id", "must be a positive whole number")
	}
	cur := currentSession(c)
	if id == cur.ID {
		return fiber.NewError(fiber.StatusBadRequest, "this is the session you are using: use Sign out (POST /logout) to end it")
	}
	gone, err := s.sessions.DeleteUserSession(c.UserContext(), cur.UserID, id, models.EventSessionRevoked, s.audit(c))
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "session revoked by its user", "user_id", cur.UserID, "session_id", gone.ID)
	return s.accountSessionsChanged(c, cur, 1, "Signed out "+describeDevice(gone.UserAgent)+".")
}

// handleAccountRevokeOthers signs out every session of the user but this one.
func (s *Server) handleAccountRevokeOthers(c *fiber.Ctx) error {
	cur := currentSession(c)
	n, err := s.sessions.DeleteUserSessionsExcept(c.UserContext(), cur.UserID, cur.ID, models.EventUserRevokeOthers, s.audit(c))
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "other sessions revoked by their user", "user_id", cur.UserID, "deleted", n)
	return s.accountSessionsChanged(c, cur, n, signedOutMessage(n))
}

func signedOutMessage(n int) string {
	switch n {
	case 0:
		return "There were no other sessions to sign out."
	case 1:
		return "Signed out 1 other session."
	}
	return fmt.Sprintf("Signed out %d other sessions.", n)
}

// accountSessionsChanged answers a revoke: {deleted: n} for API clients,
// the refreshed table plus a toast for htmx, the page with a notice for a
// plain form post.
func (s *Server) accountSessionsChanged(c *fiber.Ctx, cur *models.Session, n int, msg string) error {
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": n})
	}
	v, err := s.accountSessions(c, cur)
	if err != nil {
		return err
	}
	p := Page{Title: "Your sessions", Nav: "account-sessions", Flash: msg, Data: v}
	if !wantsFragment(c) {
		return s.view(c, fiber.StatusOK, "account/sessions", "", p)
	}
	c.Vary("HX-Request")
	p.CSRF = s.csrfToken(c)
	var out bytes.Buffer
	if err := s.views.Render(&out, "account/sessions_table", p); err != nil {
		return err
	}
	out.WriteString(toastOOB(msg))
	c.Type("html", "utf-8")
	return c.Send(out.Bytes())
}

// toastOOB is an htmx out-of-band swap that shows msg in the page's #toast.
func toastOOB(msg string) string {
	var b bytes.Buffer
	b.WriteString(`<div id="toast" hx-swap-oob="innerHTML"><div class="alert alert-success" role="status">`)
	template.HTMLEscape(&b, []byte(msg))
	b.WriteString(`</div></div>`)
	return b.String()
}

type passwordView struct {
	Error string
	Set   bool // the user has no password yet: there is no current one to ask for
}

func (s *Server) handlePasswordForm(c *fiber.Ctx) error {
	user, err := models.FindUser(c.UserContext(), s.db, currentSession(c).UserID)
	if err != nil {
		return err
	}
	return s.view(c, fiber.StatusOK, "account/password", "", Page{Title: "Change password", Nav: "account-password", Data: passwordView{Set: !user.HasPassword()}})
}

// handlePasswordChange checks the current password (rate-limited with
// sign-in, under the hashing limit), gives this session a new token, then
// stores the new password and ends every other session of the user.
//
// Rotation comes first on purpose: the two steps are separate transactions
// (each through the session manager, which the cache hooks), and if the
// second fails the user has merely a new token and the old password, never
// a changed password with the old, perhaps stolen, cookie still working.
func (s *Server) handlePasswordChange(c *fiber.Ctx) error {
	cur := currentSession(c)
	current, next, confirm := formValue(c, "current_password"), formValue(c, "new_password"), formValue(c, "confirm")
	if user, err := models.FindUser(c.UserContext(), s.db, cur.UserID); err != nil {
		return err
	} else if !user.HasPassword() {
		return s.setFirstPassword(c, cur, next, confirm)
	}
	if status, msg := passwordInputProblem(current, next, confirm); status != 0 {
		return s.passwordFailed(c, status, msg)
	}
	ctx := c.UserContext()
	attempt, err := s.throttle.begin(ctx, models.ScopeAccount, cur.User.Email, s.clientIP(c))
	if err != nil {
		return err
	}
	if attempt.wait != "" {
		c.Set(fiber.HeaderRetryAfter, attempt.wait)
		return s.passwordFailed(c, fiber.StatusTooManyRequests, "too many wrong passwords, try again later")
	}
	// One hashing slot covers the verify and SetUserPassword's new hash.
	if err := s.hashers.Acquire(ctx); err != nil {
		s.notJudged(ctx, attempt)
		c.Set(fiber.HeaderRetryAfter, retryAfterBusy)
		return s.passwordFailed(c, fiber.StatusServiceUnavailable, errBusy.Message)
	}
	defer s.hashers.Release()
	user, err := models.FindUser(ctx, s.db, cur.UserID)
	if err != nil {
		s.notJudged(ctx, attempt)
		return err
	}
	if !models.VerifyPassword(user.PasswordHash, current) {
		s.recordWrongCurrentPassword(c, cur)
		return s.passwordFailed(c, fiber.StatusUnprocessableEntity, "current_password: wrong password")
	}
	if err := s.throttle.succeeded(ctx, attempt); err != nil {
		return err
	}
	token, err := s.sessions.RotateToken(c.UserContext(), cur.ID)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, token, cur.ExpiresAt)
	fresh := *cur
	fresh.TokenHash = models.HashToken(token)
	c.Locals(localsSession, &fresh) // the page below carries the new session's CSRF token
	ended, err := models.SetUserPassword(c.UserContext(), s.db, cur.UserID, next, cur.ID, s.audit(c), s.sessions.Now())
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "password changed", "user_id", cur.UserID, "sessions_ended", ended)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": ended})
	}
	msg := "Password changed. " + signedOutMessage(ended)
	if ended == 0 {
		msg = "Password changed. You had no other sessions."
	}
	return s.view(c, fiber.StatusOK, "account/password", "", Page{Title: "Change password", Nav: "account-password", Flash: msg})
}

// setFirstPassword gives a user who signed up through a provider a
// password (the step-up before it stands for the current one). Like a
// change, it keeps this session with a new token and ends the others.
func (s *Server) setFirstPassword(c *fiber.Ctx, cur *models.Session, next, confirm string) error {
	if status, msg := passwordInputProblem("-", next, confirm); status != 0 {
		if wantsJSON(c) {
			return c.Status(status).JSON(fiber.Map{"error": msg})
		}
		return s.view(c, status, "account/password", "", Page{Title: "Change password", Nav: "account-password", Data: passwordView{Error: msg, Set: true}})
	}
	if err := s.hashers.Acquire(c.UserContext()); err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "server busy, please retry")
	}
	defer s.hashers.Release()
	token, err := s.sessions.RotateToken(c.UserContext(), cur.ID)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, token, cur.ExpiresAt)
	fresh := *cur
	fresh.TokenHash = models.HashToken(token)
	c.Locals(localsSession, &fresh)
	ended, err := models.SetUserPassword(c.UserContext(), s.db, cur.UserID, next, cur.ID, s.audit(c), s.sessions.Now())
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "password set", "user_id", cur.UserID, "sessions_ended", ended)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": ended})
	}
	return s.view(c, fiber.StatusOK, "account/password", "", Page{Title: "Change password", Nav: "account-password", Flash: "Password set. You can now sign in with it too."})
}

// passwordInputProblem is what is wrong with the form before any hashing.
func passwordInputProblem(current, next, confirm string) (int, string) {
	switch {
	case current == "" || next == "":
		return fiber.StatusBadRequest, "current_password and new_password are required"
	case len(current) > models.MaxPasswordBytes:
		return fiber.StatusBadRequest, "current_password: too long"
	case next != confirm:
		return fiber.StatusUnprocessableEntity, "confirm: the new password and its confirmation differ"
	}
	if err := models.CheckPassword(next); err != nil {
		return fiber.StatusUnprocessableEntity, "new_" + err.Error()
	}
	return 0, ""
}

func (s *Server) passwordFailed(c *fiber.Ctx, status int, msg string) error {
	if wantsJSONError(c) {
		return c.Status(status).JSON(fiber.Map{"error": msg})
	}
	return s.view(c, status, "account/password", "", Page{Title: "Change password", Nav: "account-password", Data: passwordView{Error: msg}})
}

// recordWrongCurrentPassword leaves a trace of a guess at the password
// from inside a signed-in session (a stolen cookie, perhaps) in the audit
// trail, beside failed sign-ins.
func (s *Server) recordWrongCurrentPassword(c *fiber.Ctx, cur *models.Session) {
	ev := &models.Event{At: s.sessions.Now(), Kind: models.EventSignInFailed, SessionID: &cur.ID, UserID: &cur.UserID, ActorID: &cur.UserID,
		IP: s.clientIP(c), UserAgent: clip(c.Get(fiber.HeaderUserAgent), 512), Detail: "password change: wrong current password"}
	if err := models.RecordEvent(c.UserContext(), s.db, ev); err != nil {
		s.log.WarnContext(c.UserContext(), "record wrong current password", "error", err)
	}
	s.log.InfoContext(c.UserContext(), "password change refused: wrong current password", "user_id", cur.UserID)
}
