package app

import (
	"encoding/json"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// Step-up ("sudo mode"): dangerous actions need a strong proof given
// within SUDO_WINDOW — the password and a second factor, or a passkey; for
// an account without a second factor, the password (the most it can
// prove). A sign-in is such a proof; so is re-authenticating here. JSON
// clients get 403 {error, reauth: true}; htmx gets the re-authentication
// dialog (static/stepup.js replays the action once it is done); a plain
// form gets the same form as a page.

const reauthMessage = "confirm it is you to do this: sign-in proof older than the step-up window"

// requireStepUp guards a dangerous route.
func (s *Server) requireStepUp(c *fiber.Ctx) error {
	sess := currentSession(c)
	if sess == nil {
		return errUnauthenticated
	}
	if apiToken(c) != nil {
		return c.Next() // making the token took a step-up; a script cannot re-enter a password
	}
	at, err := s.sessions.SessionStrongAt(c.UserContext(), sess.ID)
	if isNotFound(err) {
		return errUnauthenticated
	}
	if err != nil {
		return err
	}
	if !at.IsZero() && s.sessions.Now().Sub(at) < s.cfg.SudoWindow {
		return c.Next()
	}
	s.log.InfoContext(c.UserContext(), "step-up required", "user_id", sess.UserID, "session_id", sess.ID, "path", c.Path())
	if wantsJSON(c) {
		return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"error": reauthMessage, "reauth": true})
	}
	return s.reauthPage(c, fiber.StatusForbidden, "", s.reauthNext(c))
}

type reauthView struct {
	HasFactor   bool
	TOTP        bool
	Passkeys    bool
	Next        string
	Error       string
	HasPassword bool
	Providers   []providerView // linked providers, which can confirm instead of the password
}

// reauthPage is the re-authentication form: the dialog's content for
// htmx (retargeted into #reauth), a page otherwise.
func (s *Server) reauthPage(c *fiber.Ctx, status int, msg, next string) error {
	sess := currentSession(c)
	set, err := models.UserFactors(c.UserContext(), s.db, sess.UserID)
	if err != nil {
		return err
	}
	v := reauthView{HasFactor: set.Any(), TOTP: set.TOTP != nil, Passkeys: len(set.Passkeys) > 0 && s.webauthn != nil, Next: next, Error: msg}
	if v.Providers, err = s.linkedProviders(c, sess.UserID); err != nil {
		return err
	}
	user, err := models.FindUser(c.UserContext(), s.db, sess.UserID)
	if err != nil {
		return err
	}
	v.HasPassword = user.HasPassword()
	p := Page{Title: "Confirm it is you", Data: v}
	if isHTMX(c) {
		c.Set("X-Reauth", "required")
		c.Set("HX-Retarget", "#reauth")
		c.Set("HX-Reswap", "outerHTML")
		c.Set("HX-Reselect", "#reauth") // the asking element may hx-select a part of a page this is not
		return s.renderTemplate(c, status, "auth/reauth_form", p)
	}
	return s.renderPage(c, status, "auth/reauth", p)
}

// reauthNext is where a plain form returns after re-authenticating: the
// page it came from, when that is on this site.
func (s *Server) reauthNext(c *fiber.Ctx) string {
	if c.Method() == fiber.MethodGet {
		return c.OriginalURL()
	}
	if ref, err := url.Parse(c.Get(fiber.HeaderReferer)); err == nil && ref.Path != "" && s.sameOrigin(c, ref.Scheme+"://"+ref.Host) {
		if next, ok := s.allowedNext(ref.RequestURI()); ok {
			return next
		}
	}
	return "/"
}

func (s *Server) handleReauthForm(c *fiber.Ctx) error {
	next, _ := s.allowedNext(c.Query("next"))
	return s.reauthPage(c, fiber.StatusOK, "", next)
}

// handleReauth checks the password (and, for an account with a second
// factor, a code) and records the proof on the session. Both count in the
// sign-in throttle, as at sign-in.
func (s *Server) handleReauth(c *fiber.Ctx) error {
	ctx := c.UserContext()
	sess := currentSession(c)
	next, _ := s.allowedNext(formValue(c, "next"))
	password := formValue(c, "password")
	set, err := models.UserFactors(ctx, s.db, sess.UserID)
	if err != nil {
		return err
	}
	var code oneTimeCode
	switch {
	case password == "" || len(password) > models.MaxPasswordBytes:
		return s.reauthFailed(c, fiber.StatusBadRequest, "password: required (at most 1,024 bytes)", next)
	case set.Any():
		if code, err = parseCode(formValue(c, "code")); err != nil {
			return s.reauthFailed(c, fiber.StatusBadRequest, err.Error(), next)
		}
	}
	attempt, err := s.throttle.begin(ctx, models.ScopeAccount, sess.User.Email, s.clientIP(c))
	if err != nil {
		return err
	}
	if attempt.wait != "" {
		c.Set(fiber.HeaderRetryAfter, attempt.wait)
		return s.reauthFailed(c, fiber.StatusTooManyRequests, "too many wrong passwords, try again later", next)
	}
	if _, err := s.checkCredentials(ctx, sess.User.Email, password); err != nil {
		if err != errBadCredentials {
			s.notJudged(ctx, attempt)
			if err == errBusy {
				c.Set(fiber.HeaderRetryAfter, retryAfterBusy)
				return s.reauthFailed(c, fiber.StatusServiceUnavailable, errBusy.Message, next)
			}
			return err
		}
		s.recordWrongCurrentPassword(c, sess)
		return s.reauthFailed(c, fiber.StatusUnauthorized, "wrong password", next)
	}
	if err := s.throttle.succeeded(ctx, attempt); err != nil {
		return err
	}
	methods := models.NewAMR(models.MethodPassword)
	if set.Any() {
		method, err := s.verifyCode(c, sess.UserID, code)
		if fe, ok := err.(*fiber.Error); ok {
			return s.reauthFailed(c, fe.Code, fe.Message, next)
		}
		if err != nil {
			return err
		}
		if method == "" {
			return s.reauthFailed(c, fiber.StatusUnauthorized, "wrong code", next)
		}
		methods = methods.With(method)
	}
	return s.reauthDone(c, methods, next)
}

func (s *Server) reauthDone(c *fiber.Ctx, methods models.AMR, next string) error {
	sess := currentSession(c)
	if err := s.sessions.MarkStrong(c.UserContext(), sess.ID, sess.UserID, methods, s.audit(c)); err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "stepped up", "user_id", sess.UserID, "session_id", sess.ID, "methods", string(methods))
	switch {
	case wantsJSON(c):
		return c.JSON(fiber.Map{"strongAt": s.sessions.Now(), "methods": methods.List()})
	case isHTMX(c):
		c.Set("HX-Trigger", "reauth-done")
		return s.renderTemplate(c, fiber.StatusOK, "auth/reauth_done", Page{})
	}
	if next == "" {
		next = "/"
	}
	return redirect(c, next)
}

func (s *Server) reauthFailed(c *fiber.Ctx, status int, msg, next string) error {
	if wantsJSONError(c) {
		return c.Status(status).JSON(fiber.Map{"error": msg, "reauth": true})
	}
	return s.reauthPage(c, status, msg, next)
}

// handleReauthPasskeyOptions begins a passkey re-authentication (user
// verification required: a passkey alone is a strong proof).
func (s *Server) handleReauthPasskeyOptions(c *fiber.Ctx) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	sess := currentSession(c)
	e := enrollee{user: sess.User, session: sess}
	u, err := s.passkeyUser(c, sess.User, false)
	if err != nil {
		return err
	}
	if len(u.creds) == 0 {
		return fiber.NewError(fiber.StatusConflict, "this account has no passkey")
	}
	assertion, sd, err := s.webauthn.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	if err := s.keepCeremony(c, e, sd); err != nil {
		return err
	}
	return c.JSON(assertion)
}

func (s *Server) handleReauthPasskey(c *fiber.Ctx) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	sess := currentSession(c)
	parsed, err := protocol.ParseCredentialRequestResponseBytes(c.Body())
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "credential: "+passkeyProblem(err))
	}
	sd, err := s.takeCeremony(c, enrollee{user: sess.User, session: sess})
	if err != nil {
		return err
	}
	u, err := s.passkeyUser(c, sess.User, false)
	if err != nil {
		return err
	}
	cred, err := s.webauthn.ValidateLogin(u, sd, parsed)
	if err == nil && cred.Authenticator.CloneWarning {
		err = &protocol.Error{Details: "the passkey's signature counter went backwards: it may have been copied"}
	}
	f := (*models.Factor)(nil)
	if err == nil {
		if f = u.factorOf(cred); f == nil {
			err = &protocol.Error{Details: "unknown passkey"}
		}
	}
	if err != nil {
		s.recordWrongCode(c, sess.UserID)
		return fiber.NewError(fiber.StatusUnauthorized, "the passkey was not accepted: "+passkeyProblem(err))
	}
	stored, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if err := models.UsePasskey(c.UserContext(), s.db, f.ID, string(stored), s.sessions.Now()); err != nil {
		return err
	}
	return s.reauthDone(c, models.NewAMR(models.MethodWebAuthn), "")
}
