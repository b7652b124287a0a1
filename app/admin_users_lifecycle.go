package app

import (
	"context"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"sessiond/jobs"
	"sessiond/models"
)

// Audit events of admins handing out reset links.
const (
	eventResetLinkSent   = "user.reset_link_sent"
	eventResetLinkCopied = "user.reset_link_created"
)

// handleAdminUsersDisable disables an account: its sessions end at once and
// it cannot sign in until enabled. The last active admin is refused.
func (s *Server) handleAdminUsersDisable(c *fiber.Ctx) error { return s.setDisabled(c, true) }

// handleAdminUsersEnable lets a disabled account sign in again.
func (s *Server) handleAdminUsersEnable(c *fiber.Ctx) error { return s.setDisabled(c, false) }

func (s *Server) setDisabled(c *fiber.Ctx, disabled bool) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	a := s.audit(c)
	if disabled && u.ID == a.ActorID {
		return fiber.NewError(fiber.StatusConflict, "you cannot disable your own account: ask another admin")
	}
	n, err := models.SetUserDisabled(c.UserContext(), s.db, u.ID, disabled, a, s.sessions.Now())
	if err != nil {
		return err
	}
	verb := "enabled"
	if disabled {
		verb = "disabled"
	}
	s.logAdmin(c, "admin "+verb+" user", "user_id", u.ID, "sessions_ended", n)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"userId": u.ID, "disabled": disabled, "deleted": n})
	}
	msg := fmt.Sprintf("%s can sign in again.", u.Email)
	if disabled {
		msg = fmt.Sprintf("Disabled %s: %s ended.", u.Email, sessionsPhrase(n))
	}
	return s.usersChanged(c, fiber.StatusOK, msg, false)
}

// handleAdminUsersResetLink mails the user a reset link (action=send), or
// mints one for the admin to hand over (action=copy) — the way when no
// mail server is configured.
func (s *Server) handleAdminUsersResetLink(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	a := s.audit(c)
	switch action := formValue(c, "action"); action {
	case "send":
		if err := s.queueResetLink(c.UserContext(), u, a); err != nil {
			return err
		}
		s.logAdmin(c, "admin sent reset link", "user_id", u.ID)
		if wantsJSON(c) {
			return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"userId": u.ID, "queued": true})
		}
		return s.usersChanged(c, fiber.StatusOK, fmt.Sprintf("A reset link is on its way to %s.", u.Email), false)
	case "copy":
		link, err := s.resetLink(c.UserContext(), u, a)
		if err != nil {
			return err
		}
		s.logAdmin(c, "admin created reset link", "user_id", u.ID)
		if wantsJSON(c) {
			return c.JSON(fiber.Map{"userId": u.ID, "link": link, "expiresIn": int(models.ResetTokenTTL.Seconds())})
		}
		c.Locals(localsResetLink, link)
		return s.usersChanged(c, fiber.StatusOK, fmt.Sprintf("Reset link for %s (works once, for 30 minutes):", u.Email), false)
	default:
		return models.Invalid("action", "must be send or copy")
	}
}

const localsResetLink = "resetLink"

// queueResetLink queues a reset mail to u, recording who asked, in one
// transaction.
func (s *Server) queueResetLink(ctx context.Context, u *models.User, a models.Audit) error {
	now := s.sessions.Now()
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := models.RecordEvent(ctx, tx, &models.Event{At: now, Kind: eventResetLinkSent, UserID: &u.ID, ActorID: nonZero(a.ActorID), IP: a.IP}); err != nil {
			return err
		}
		return s.sendMail(ctx, tx, jobs.MailArgs{Template: mailPasswordReset, To: u.Email, UserID: u.ID})
	})
}

// resetLink mints a reset link now, for an admin to pass on; it replaces
// any earlier link of the user.
func (s *Server) resetLink(ctx context.Context, u *models.User, a models.Audit) (string, error) {
	now := s.sessions.Now()
	raw, err := models.MintUserToken(ctx, s.db, &models.UserToken{UserID: u.ID, Purpose: models.TokenReset}, models.ResetTokenTTL, now)
	if err != nil {
		return "", err
	}
	ev := &models.Event{At: now, Kind: eventResetLinkCopied, UserID: &u.ID, ActorID: nonZero(a.ActorID), IP: a.IP}
	if err := models.RecordEvent(ctx, s.db, ev); err != nil {
		return "", err
	}
	return s.baseURL() + "/password/reset?token=" + raw, nil
}

func nonZero(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}
