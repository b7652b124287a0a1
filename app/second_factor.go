package app

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// The second step of a sign-in: after the password, a user with a second
// factor enters a one-time code (or a recovery code), or uses a passkey
// (passkeys.go). The sign-in is held server-side meanwhile (pending.go).

type secondFactorView struct {
	TOTP     bool
	Passkeys bool
	Recovery bool
	Error    string
}

func (s *Server) handleSecondFactorForm(c *fiber.Ctx) error {
	p, err := s.pendingSignIn(c, models.PendingSecondFactor)
	if err != nil {
		return s.signInAgain(c, err)
	}
	return s.secondFactorPage(c, p, fiber.StatusOK, "")
}

// handleSecondFactor checks a code and, when it is right, ends the sign-in
// in a session. Wrong codes are throttled like passwords (per user and per
// client address) and a pending sign-in takes only a few of them.
func (s *Server) handleSecondFactor(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, err := s.pendingSignIn(c, models.PendingSecondFactor)
	if err != nil {
		return s.signInAgain(c, err)
	}
	code, err := parseCode(formValue(c, "code"))
	if err != nil {
		return s.secondFactorPage(c, p, fiber.StatusBadRequest, err.Error())
	}
	method, err := s.verifyCode(c, p.UserID, code)
	if err != nil {
		if fe, ok := err.(*fiber.Error); ok && fe.Code == fiber.StatusTooManyRequests {
			return s.secondFactorPage(c, p, fe.Code, fe.Message)
		}
		return err
	}
	if method == "" {
		dropped, err := models.FailPendingSignIn(ctx, s.db, p.ID)
		if err != nil {
			return err
		}
		if dropped {
			s.clearPendingCookie(c)
			return s.signInAgain(c, fiber.NewError(fiber.StatusUnauthorized, "too many wrong codes: sign in again"))
		}
		return s.secondFactorPage(c, p, fiber.StatusUnauthorized, "wrong code: check your authenticator app's clock, or use a recovery code")
	}
	user, err := models.FindUser(ctx, s.db, p.UserID)
	if isNotFound(err) {
		return s.signInAgain(c, errPendingGone)
	}
	if err != nil {
		return err
	}
	r, err := s.startSession(c, signIn{user: user, amr: p.AMR.With(method), next: p.Next, pending: p})
	if err != nil {
		return s.signInAgain(c, err)
	}
	return s.finishSignIn(c, r, p.Next)
}

func (s *Server) secondFactorPage(c *fiber.Ctx, p *models.PendingSignIn, status int, msg string) error {
	if wantsJSON(c) {
		if msg == "" {
			return c.Status(status).JSON(fiber.Map{"secondFactor": true})
		}
		return c.Status(status).JSON(fiber.Map{"error": msg})
	}
	set, err := models.UserFactors(c.UserContext(), s.db, p.UserID)
	if err != nil {
		return err
	}
	v := secondFactorView{TOTP: set.TOTP != nil, Passkeys: len(set.Passkeys) > 0, Recovery: set.RecoveryLeft > 0, Error: msg}
	s.allowNextOrigin(c, p.Next) // this form's answer goes on to next
	return s.view(c, status, "auth/second_factor", "", Page{Title: "Two-step sign-in", Data: v})
}

// signInAgain answers a second step that cannot go on (expired, finished,
// too many wrong codes) with the sign-in page and why; other errors pass.
func (s *Server) signInAgain(c *fiber.Ctx, err error) error {
	fe, ok := err.(*fiber.Error)
	if !ok || fe.Code != fiber.StatusUnauthorized {
		return err
	}
	return s.loginFailed(c, fe.Code, fe.Message, "", "")
}

// oneTimeCode is a code field's value: six digits from an authenticator
// app, or a recovery code (normalised).
type oneTimeCode struct {
	totp     string
	recovery string
}

// errBadCode is the answer to a code that can be neither kind.
var errBadCode = fiber.NewError(fiber.StatusBadRequest, "code: enter the 6 digits from your authenticator app, or a recovery code (xxxxx-xxxxx)")

// parseCode reads a code as typed: surrounding space is ignored, anything
// else that is not six digits or a recovery code is refused before any
// check is made or counted.
func parseCode(raw string) (oneTimeCode, error) {
	v := strings.TrimSpace(raw)
	if len(v) == models.TOTPDigits && strings.Trim(v, "0123456789") == "" {
		return oneTimeCode{totp: v}, nil
	}
	if len(v) <= 16 {
		if r := models.NormalizeRecoveryCode(v); r != "" {
			return oneTimeCode{recovery: r}, nil
		}
	}
	return oneTimeCode{}, errBadCode
}

// verifyCode checks code against the user's factors and spends it: a TOTP
// step is accepted once, a recovery code deleted. It returns the method
// proved, or "" for a wrong code, which is counted by the sign-in
// throttle per user (models.ScopeFactor, apart from the password count,
// which a right password resets) and per address; a user over the limit
// gets 429 without a check.
func (s *Server) verifyCode(c *fiber.Ctx, userID int64, code oneTimeCode) (string, error) {
	ctx := c.UserContext()
	attempt, err := s.throttle.begin(ctx, models.ScopeFactor, strconv.FormatInt(userID, 10), s.clientIP(c))
	if err != nil {
		return "", err
	}
	if attempt.wait != "" {
		c.Set(fiber.HeaderRetryAfter, attempt.wait)
		return "", fiber.NewError(fiber.StatusTooManyRequests, "too many wrong codes, try again later")
	}
	method, err := s.spendCode(c, userID, code)
	if err != nil {
		s.notJudged(ctx, attempt)
		return "", err
	}
	if method == "" {
		s.recordWrongCode(c, userID)
		return "", nil
	}
	return method, s.throttle.succeeded(ctx, attempt)
}

func (s *Server) spendCode(c *fiber.Ctx, userID int64, code oneTimeCode) (string, error) {
	ctx, now := c.UserContext(), s.sessions.Now()
	if code.recovery != "" {
		ok, err := models.UseRecoveryCode(ctx, s.db, userID, code.recovery)
		if !ok || err != nil {
			return "", err
		}
		return models.MethodRecovery, nil
	}
	set, err := models.UserFactors(ctx, s.db, userID)
	if err != nil || set.TOTP == nil {
		return "", err
	}
	step := models.MatchTOTP(set.TOTP.Secret, code.totp, now)
	if step == 0 {
		return "", nil
	}
	ok, err := models.UseTOTP(ctx, s.db, set.TOTP.ID, step, now)
	if !ok || err != nil {
		return "", err
	}
	return models.MethodOTP, nil
}

func (s *Server) recordWrongCode(c *fiber.Ctx, userID int64) {
	ev := &models.Event{At: s.sessions.Now(), Kind: models.EventSignInFailed, UserID: &userID,
		IP: s.clientIP(c), UserAgent: clip(c.Get(fiber.HeaderUserAgent), 512), Detail: "wrong second-factor code"}
	if sess := currentSession(c); sess != nil {
		ev.SessionID, ev.ActorID = &sess.ID, &sess.UserID
	}
	if err := models.RecordEvent(c.UserContext(), s.db, ev); err != nil {
		s.log.WarnContext(c.UserContext(), "record wrong code", "error", err)
	}
	s.log.InfoContext(c.UserContext(), "second factor refused: wrong code", "user_id", userID)
}

type mfaView struct {
	Next      string
	HasFactor bool
}

// handleMFAForm is where forward-auth sends a session made without a
// second factor when an app wants one (/auth/verify?mfa=1): it offers the
// second step, which makes a new session and returns to the app.
func (s *Server) handleMFAForm(c *fiber.Ctx) error {
	sess := currentSession(c)
	next, _ := s.allowedNext(c.Query("next"))
	if sess.AMR.MultiFactor() {
		return redirect(c, s.safeNext(next))
	}
	set, err := models.UserFactors(c.UserContext(), s.db, sess.UserID)
	if err != nil {
		return err
	}
	return s.view(c, fiber.StatusOK, "auth/mfa", "", Page{Title: "Second factor required", Data: mfaView{Next: next, HasFactor: set.Any()}})
}

// handleMFA holds a second step for the signed-in user (the session they
// have stands for the password); finishing it replaces the session.
func (s *Server) handleMFA(c *fiber.Ctx) error {
	sess := currentSession(c)
	next, _ := s.allowedNext(formValue(c, "next"))
	set, err := models.UserFactors(c.UserContext(), s.db, sess.UserID)
	if err != nil {
		return err
	}
	if !set.Any() {
		return fiber.NewError(fiber.StatusConflict, "set up a second factor on the security page first")
	}
	p := &models.PendingSignIn{UserID: sess.UserID, Purpose: models.PendingSecondFactor, AMR: sess.AMR, Next: next}
	if err := s.holdPending(c, p); err != nil {
		return err
	}
	return redirect(c, stepSecondFactor)
}
