package app

import (
	"errors"
	"html/template"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// Enrolling an authenticator app: a new key is stored unconfirmed and
// shown (QR code rendered here, and as text); one right code from the app
// confirms it. The first factor of an account comes with recovery codes,
// shown once.

type totpSetupView struct {
	Key       *models.TOTPKey
	QR        template.URL // the key's QR code, a PNG data: URL made by models
	Enrolling bool
	Error     string
}

type recoveryCodesView struct {
	Codes []string
	Next  string
}

// totpIssuer names sessiond in the authenticator app: BASE_URL's host.
func (s *Server) totpIssuer() string {
	if s.cfg.BaseURL != nil {
		return s.cfg.BaseURL.Hostname()
	}
	return "sessiond"
}

// handleTOTPStart makes a new key for the user to scan.
func (s *Server) handleTOTPStart(c *fiber.Ctx) error {
	e, err := s.enrollee(c)
	if err != nil {
		return err
	}
	key, err := models.NewTOTPKey(s.totpIssuer(), e.user.Email)
	if err != nil {
		return err
	}
	if err := models.StartTOTP(c.UserContext(), s.db, e.user.ID, key.Secret, s.sessions.Now()); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return fiber.NewError(fiber.StatusConflict, "an authenticator app is already set up: remove it before setting up another")
		}
		return err
	}
	return s.totpSetupPage(c, e, key, fiber.StatusOK, "")
}

// handleTOTPForm shows the key of an enrolment under way again.
func (s *Server) handleTOTPForm(c *fiber.Ctx) error {
	e, err := s.enrollee(c)
	if err != nil {
		return err
	}
	key, err := s.pendingTOTPKey(c, e)
	if err != nil {
		return err
	}
	return s.totpSetupPage(c, e, key, fiber.StatusOK, "")
}

func (s *Server) pendingTOTPKey(c *fiber.Ctx, e enrollee) (*models.TOTPKey, error) {
	f, err := models.PendingTOTP(c.UserContext(), s.db, e.user.ID)
	if isNotFound(err) {
		return nil, fiber.NewError(fiber.StatusNotFound, "no authenticator app is being set up: start again from the security page")
	}
	if err != nil {
		return nil, err
	}
	return models.TOTPKeyFor(s.totpIssuer(), e.user.Email, f.Secret)
}

// handleTOTPConfirm enables the key once a code from the app matches it.
// Wrong codes count against the user like wrong sign-in codes.
func (s *Server) handleTOTPConfirm(c *fiber.Ctx) error {
	ctx := c.UserContext()
	e, err := s.enrollee(c)
	if err != nil {
		return err
	}
	f, err := models.PendingTOTP(ctx, s.db, e.user.ID)
	if isNotFound(err) {
		return fiber.NewError(fiber.StatusNotFound, "no authenticator app is being set up: start again from the security page")
	}
	if err != nil {
		return err
	}
	code, err := parseCode(formValue(c, "code"))
	if err != nil || code.totp == "" {
		return s.totpRetry(c, e, fiber.StatusBadRequest, "code: enter the 6 digits your authenticator app shows")
	}
	attempt, err := s.throttle.begin(ctx, models.ScopeFactor, strconv.FormatInt(e.user.ID, 10), s.clientIP(c))
	if err != nil {
		return err
	}
	if attempt.wait != "" {
		c.Set(fiber.HeaderRetryAfter, attempt.wait)
		return s.totpRetry(c, e, fiber.StatusTooManyRequests, "too many wrong codes, try again later")
	}
	step := models.MatchTOTP(f.Secret, code.totp, s.sessions.Now())
	if step == 0 {
		s.recordWrongCode(c, e.user.ID)
		return s.totpRetry(c, e, fiber.StatusUnprocessableEntity, "code: that is not the code of this key; check the app's clock and try the next code")
	}
	if err := s.throttle.succeeded(ctx, attempt); err != nil {
		return err
	}
	codes, err := models.ConfirmTOTP(ctx, s.db, f, step, e.sessionID(), s.auditFor(c, e), s.sessions.Now())
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "authenticator app enabled", "user_id", e.user.ID)
	return s.factorAdded(c, e, models.MethodOTP, codes, "Authenticator app enabled.")
}

func (s *Server) totpRetry(c *fiber.Ctx, e enrollee, status int, msg string) error {
	if wantsJSONError(c) {
		return c.Status(status).JSON(fiber.Map{"error": msg})
	}
	key, err := s.pendingTOTPKey(c, e)
	if err != nil {
		return err
	}
	return s.totpSetupPage(c, e, key, status, msg)
}

func (s *Server) totpSetupPage(c *fiber.Ctx, e enrollee, key *models.TOTPKey, status int, msg string) error {
	if wantsJSON(c) {
		return c.Status(status).JSON(fiber.Map{"secret": key.Secret, "url": key.URL, "qr": key.QR})
	}
	v := totpSetupView{Key: key, QR: template.URL(key.QR), Enrolling: e.session == nil, Error: msg}
	if e.pending != nil {
		s.allowNextOrigin(c, e.pending.Next) // enrolling ends the sign-in: the answer may go on to next
	}
	return s.view(c, status, "account/totp_setup", "", Page{Title: "Set up an authenticator app", Nav: "account-security", Data: v})
}

// factorAdded answers an enrolment: a user enrolling right after the
// password is now signed in (the factor just proved, with the password);
// new recovery codes are shown once.
func (s *Server) factorAdded(c *fiber.Ctx, e enrollee, method string, codes []string, msg string) error {
	next := ""
	if e.pending != nil {
		r, err := s.startSession(c, signIn{user: e.user, amr: e.pending.AMR.With(method), next: e.pending.Next, pending: e.pending})
		if err != nil {
			return s.signInAgain(c, err)
		}
		if r.step != "" {
			return s.finishSignIn(c, r, e.pending.Next)
		}
		next = s.safeNext(e.pending.Next)
	}
	if wantsJSON(c) {
		to := next
		if to == "" {
			to = "/account/security"
		}
		return c.JSON(fiber.Map{"recoveryCodes": codes, "redirect": to})
	}
	if codes == nil {
		if next != "" {
			return redirect(c, next)
		}
		e.session = currentSession(c)
		return s.securityPage(c, e, fiber.StatusOK, msg)
	}
	if next == "" {
		next = "/account/security"
	}
	return s.view(c, fiber.StatusOK, "account/recovery_codes", "", Page{Title: "Recovery codes", Nav: "account-security",
		Flash: msg, Data: recoveryCodesView{Codes: codes, Next: next}})
}

// handleRecoveryCodesNew replaces the recovery codes with fresh ones.
func (s *Server) handleRecoveryCodesNew(c *fiber.Ctx) error {
	sess := currentSession(c)
	set, err := models.UserFactors(c.UserContext(), s.db, sess.UserID)
	if err != nil {
		return err
	}
	if !set.Any() {
		return fiber.NewError(fiber.StatusConflict, "recovery codes stand in for a second factor: set one up first")
	}
	codes, err := models.NewRecoveryCodes(c.UserContext(), s.db, sess.UserID, sess.ID, s.audit(c), s.sessions.Now())
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "recovery codes replaced", "user_id", sess.UserID)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"recoveryCodes": codes})
	}
	return s.view(c, fiber.StatusOK, "account/recovery_codes", "", Page{Title: "Recovery codes", Nav: "account-security",
		Flash: "New recovery codes: the old ones no longer work.", Data: recoveryCodesView{Codes: codes, Next: "/account/security"}})
}

// handleFactorRemove removes an authenticator app or a passkey. The last
// one cannot go while the policy requires a second factor (409).
func (s *Server) handleFactorRemove(c *fiber.Ctx) error {
	sess := currentSession(c)
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return badParam("id", "must be a positive whole number")
	}
	keepOne := s.cfg.Requires2FA(sess.User.Role)
	gone, err := models.RemoveFactor(c.UserContext(), s.db, sess.UserID, id, keepOne, sess.ID, s.audit(c), s.sessions.Now())
	if errors.Is(err, models.ErrLastFactor) {
		return fiber.NewError(fiber.StatusConflict, "your administrator requires a second factor: add another one before removing this one")
	}
	if errors.Is(err, models.ErrLastSignInMethod) {
		return errLastSignInMethod
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "second factor removed", "user_id", sess.UserID, "kind", gone.Kind)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": 1})
	}
	return s.securityPage(c, enrollee{user: sess.User, session: sess}, fiber.StatusOK, "Removed "+gone.Name+".")
}
