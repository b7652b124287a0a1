package app

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// readProfileInput reads name and email from a form or a JSON body.
func readProfileInput(c *fiber.Ctx) (name, email string, err error) {
	if !strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) {
		return formValue(c, "name"), formValue(c, "email"), nil
	}
	var in struct{ Name, Email string }
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		return "", "", fiber.NewError(fiber.StatusBadRequest, "body: want a JSON object with name and email")
	}
	return in.Name, in.Email, nil
}

// handleAdminUsersProfile edits a user's name and email. With a mail
// server a new email waits for the link mailed to it (the old one keeps
// working until then); without one it applies at once, unconfirmed. Either
// way the user's cached sessions drop, so forward-auth passes the new
// name and email on with the next request.
func (s *Server) handleAdminUsersProfile(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	name, email, err := readProfileInput(c)
	if err != nil {
		return err
	}
	in := models.ProfileUpdate{Name: name, Email: email, VerifyEmail: s.cfg.SMTP != nil}
	res, err := models.UpdateProfile(c.UserContext(), s.db, u.ID, in, s.audit(c), s.sessions.Now(), s.queueVerifyMail)
	if err != nil {
		return err
	}
	s.logAdmin(c, "admin edited user", "user_id", u.ID, "email_pending", res.PendingEmail != "")
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"user": userJSON(res.User), "emailVerified": res.User.EmailVerifiedAt != nil, "emailPending": stringOrNil(res.PendingEmail)})
	}
	msg := fmt.Sprintf("Saved %s (%s).", res.User.Name, res.User.Email)
	if res.PendingEmail != "" {
		msg += fmt.Sprintf(" The new email %s applies once its owner follows the link just mailed to it.", res.PendingEmail)
	}
	return s.usersChanged(c, fiber.StatusOK, msg, false)
}
