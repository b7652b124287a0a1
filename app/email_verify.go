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

// mailEmailVerify is the message with a link that confirms an address.
const mailEmailVerify = "email_verify"

type verifyView struct{ Token, Email, Error string }

// handleVerifyEmailForm shows the confirm button of a verification link:
// opening a link changes nothing, so a mail scanner following it does not
// confirm an address on anyone's behalf.
func (s *Server) handleVerifyEmailForm(c *fiber.Ctx) error {
	token := c.Query("token")
	if _, err := models.FindUserToken(c.UserContext(), s.db, token, models.TokenVerify, s.sessions.Now()); err != nil {
		return s.verifyFailed(c, err)
	}
	return s.view(c, fiber.StatusOK, "auth/verify_email", "", Page{Title: "Confirm your email", Data: verifyView{Token: token}})
}

// handleVerifyEmail uses the link: the address becomes the account's
// email, confirmed.
func (s *Server) handleVerifyEmail(c *fiber.Ctx) error {
	u, err := models.VerifyEmail(c.UserContext(), s.db, formValue(c, "token"), s.audit(c), s.sessions.Now())
	if err != nil {
		return s.verifyFailed(c, err)
	}
	s.log.InfoContext(c.UserContext(), "email verified", "user_id", u.ID)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"userId": u.ID, "email": u.Email, "verified": true})
	}
	return s.view(c, fiber.StatusOK, "auth/verify_email", "", Page{Title: "Confirm your email", Data: verifyView{Email: u.Email}})
}

func (s *Server) verifyFailed(c *fiber.Ctx, err error) error {
	if !errors.Is(err, models.ErrBadLink) {
		return err
	}
	if wantsJSONError(c) {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": models.ErrBadLink.Error()})
	}
	return s.view(c, fiber.StatusNotFound, "auth/verify_email", "", Page{Title: "Confirm your email", Data: verifyView{Error: models.ErrBadLink.Message}})
}

// queueVerifyMail queues, in tx, a link to address confirming it as u's
// email; the link is minted when the message is composed.
func (s *Server) queueVerifyMail(ctx context.Context, tx bun.Tx, u *models.User, address string) error {
	return s.sendMail(ctx, tx, jobs.MailArgs{Template: mailEmailVerify, To: address, UserID: u.ID})
}

// verifyResend is how often a refused sign-in may mail a new link.
const verifyResend = 10 * time.Minute

// requireVerifiedEmail refuses a sign-in while REQUIRE_EMAIL_VERIFICATION
// is on and the user's email is unconfirmed, and mails a link (at most one
// per verifyResend, however often they try).
func (s *Server) requireVerifiedEmail(ctx context.Context, u *models.User) error {
	if !s.cfg.RequireEmailVerification || u.EmailVerifiedAt != nil {
		return nil
	}
	now := s.sessions.Now()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		recent, err := models.MailedSince(ctx, s.db, tx, u.ID, mailEmailVerify, now.Add(-verifyResend))
		if err != nil || recent {
			return err
		}
		return s.queueVerifyMail(ctx, tx, u, u.Email)
	})
	if err != nil {
		return err
	}
	return fiber.NewError(fiber.StatusForbidden, "confirm your email address first: a link is on its way to "+u.Email)
}

// verifyLink mints a link confirming address as u's email now, for an
// admin to hand over; it replaces any earlier one.
func (s *Server) verifyLink(ctx context.Context, u *models.User, address string, a models.Audit) (string, error) {
	now := s.sessions.Now()
	raw, err := models.MintUserToken(ctx, s.db, &models.UserToken{UserID: u.ID, Purpose: models.TokenVerify, Email: address}, models.VerifyTokenTTL, now)
	if err != nil {
		return "", err
	}
	if err := models.RecordEvent(ctx, s.db, a.Event(eventVerifyLinkCopied, now, 0, u.ID, "email="+address)); err != nil {
		return "", err
	}
	return s.baseURL() + "/email/verify?token=" + raw, nil
}

// eventVerifyLinkCopied: an admin took a verification link to hand over.
const eventVerifyLinkCopied = "user.verify_link_created"
