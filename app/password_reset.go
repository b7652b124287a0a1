package app

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"sessiond/jobs"
	"sessiond/models"
)

// resetAnswer is the one answer to a reset request, whether or not the
// address belongs to anyone.
const resetAnswer = "If an account uses that address, a link to reset its password is on its way. It works for 30 minutes."

type forgotView struct {
	Email string
	Error string
	Sent  bool
}

type resetView struct {
	Token string
	Error string
}

func (s *Server) handleForgotForm(c *fiber.Ctx) error {
	return s.view(c, fiber.StatusOK, "auth/forgot", "", Page{Title: "Forgot password"})
}

// handleForgot queues a reset mail for the address. The answer and the
// work are the same whether the address is known (the job finds out, not
// the request), so neither the page nor its timing tells who has an
// account. Requests are limited per address and per client IP.
func (s *Server) handleForgot(c *fiber.Ctx) error {
	email := models.NormalizeEmail(formValue(c, "email"))
	if len(email) > 254 || !models.ValidEmail(email) {
		return s.forgotFailed(c, fiber.StatusUnprocessableEntity, "email: enter a valid email address", email)
	}
	ip := s.clientIP(c)
	attempt, err := s.resetLimit.begin(c.UserContext(), models.ScopeReset, email, ip)
	if err != nil {
		return err
	}
	if attempt.wait != "" {
		c.Set(fiber.HeaderRetryAfter, attempt.wait)
		return s.forgotFailed(c, fiber.StatusTooManyRequests, "too many reset requests, try again later", email)
	}
	err = s.db.RunInTx(c.UserContext(), nil, func(ctx context.Context, tx bun.Tx) error {
		return s.sendMail(ctx, tx, jobs.MailArgs{Template: mailPasswordReset, To: email})
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "password reset requested", "ip", ip)
	if wantsJSON(c) {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"message": resetAnswer})
	}
	return s.view(c, fiber.StatusOK, "auth/forgot", "", Page{Title: "Forgot password", Data: forgotView{Sent: true}})
}

func (s *Server) forgotFailed(c *fiber.Ctx, status int, msg, email string) error {
	if wantsJSONError(c) {
		return c.Status(status).JSON(fiber.Map{"error": msg})
	}
	return s.view(c, status, "auth/forgot", "", Page{Title: "Forgot password", Data: forgotView{Email: email, Error: msg}})
}

// handleResetForm shows the new-password form for a live link, or says
// the link is no good.
func (s *Server) handleResetForm(c *fiber.Ctx) error {
	token := c.Query("token")
	if _, err := models.FindUserToken(c.UserContext(), s.db, token, models.TokenReset, s.sessions.Now()); err != nil {
		return s.resetFailed(c, err, "")
	}
	return s.view(c, fiber.StatusOK, "auth/reset", "", Page{Title: "Choose a new password", Data: resetView{Token: token}})
}

// handleReset sets the new password, uses the link up and ends every
// session of the user (this browser's too); then the user signs in anew.
func (s *Server) handleReset(c *fiber.Ctx) error {
	token, password, confirm := formValue(c, "token"), formValue(c, "password"), formValue(c, "confirm")
	if password != confirm {
		return s.resetFailed(c, models.Invalid("confirm", "the password and its confirmation differ"), token)
	}
	user, ended, err := models.ResetPassword(c.UserContext(), s.db, token, password, s.audit(c), s.sessions.Now())
	if err != nil {
		return s.resetFailed(c, err, token)
	}
	s.clearSessionCookie(c)
	s.log.InfoContext(c.UserContext(), "password reset", "user_id", user.ID, "sessions_ended", ended)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"message": "password changed", "sessionsEnded": ended})
	}
	return s.view(c, fiber.StatusOK, "auth/login", "", Page{Title: "Sign in", Flash: "Your password was changed and every session signed out. Sign in with the new password.",
		Data: loginView{Email: user.Email}})
}

// resetFailed answers a bad link or password: the form again when the
// link still works, otherwise the way to ask for a new link.
func (s *Server) resetFailed(c *fiber.Ctx, err error, token string) error {
	var invalid *models.ValidationError
	if !errors.As(err, &invalid) {
		return err
	}
	status := fiber.StatusUnprocessableEntity
	if errors.Is(err, models.ErrBadLink) {
		token, status = "", fiber.StatusNotFound // no such live link, whatever was typed
	}
	if wantsJSONError(c) {
		return c.Status(status).JSON(fiber.Map{"error": invalid.Error()})
	}
	msg := invalid.Error()
	if token == "" {
		msg = models.ErrBadLink.Message
	}
	return s.view(c, status, "auth/reset", "", Page{Title: "Choose a new password", Data: resetView{Token: token, Error: msg}})
}

// newResetLimit allows 5 reset requests per address and 30 per client IP
// in 15 minutes: enough for a person, too few to flood someone's inbox.
// Its counts are kept apart from sign-in's.
func newResetLimit(db *models.DB, now func() time.Time) *throttle {
	return &throttle{db: db, now: now, perAccount: 5, perIP: 30, ipScope: models.ScopeResetIP}
}

// newPasskeyLimit allows 60 passwordless passkey sign-ins started per
// client IP in 15 minutes: each start holds a challenge in the database
// before anyone is known, so an unlimited stream of them would be free
// writes for anyone. An office behind one address still has room.
func newPasskeyLimit(db *models.DB, now func() time.Time) *throttle {
	return &throttle{db: db, now: now, perIP: 60, ipScope: models.ScopePasskey}
}
