package app

import (
	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

type notMeView struct {
	Token string
	Done  bool
	Error string
}

// handleNotMeForm is where an alert's "This wasn't me" link lands: one
// button ends that session (a GET changes nothing, so a mail scanner
// following links cannot).
func (s *Server) handleNotMeForm(c *fiber.Ctx) error {
	token := c.Query("token")
	if _, err := models.FindUserToken(c.UserContext(), s.db, token, models.TokenNotMe, s.sessions.Now()); err != nil {
		return s.notMeFailed(c, err)
	}
	return s.view(c, fiber.StatusOK, "account/not_me", "", Page{Title: "This wasn't me", Data: notMeView{Token: token}})
}

// handleNotMe ends the session the alert was about and offers a new
// password.
func (s *Server) handleNotMe(c *fiber.Ctx) error {
	t, err := models.UseUserToken(c.UserContext(), s.db, formValue(c, "token"), models.TokenNotMe, s.sessions.Now())
	if err != nil {
		return s.notMeFailed(c, err)
	}
	a := s.audit(c)
	a.ActorID = t.UserID
	ended := 0
	if t.SessionID != nil {
		if _, err := s.sessions.DeleteUserSession(c.UserContext(), t.UserID, *t.SessionID, models.EventSessionRevoked, a); err == nil {
			ended = 1
		} else if !isNotFound(err) {
			return err
		}
	}
	s.log.InfoContext(c.UserContext(), "session ended from a sign-in alert", "user_id", t.UserID, "sessions_ended", ended)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": ended})
	}
	return s.view(c, fiber.StatusOK, "account/not_me", "", Page{Title: "This wasn't me", Data: notMeView{Done: true}})
}

func (s *Server) notMeFailed(c *fiber.Ctx, err error) error {
	if err != models.ErrBadLink {
		return err
	}
	if wantsJSONError(c) {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": models.ErrBadLink.Error()})
	}
	return s.view(c, fiber.StatusNotFound, "account/not_me", "", Page{Title: "This wasn't me", Data: notMeView{Error: models.ErrBadLink.Message}})
}

type alertsView struct{ On bool }

// handleAlertsForm shows whether sign-in alerts are on.
func (s *Server) handleAlertsForm(c *fiber.Ctx) error {
	u, err := models.FindUser(c.UserContext(), s.db.Read, currentSession(c).UserID)
	if err != nil {
		return err
	}
	return s.view(c, fiber.StatusOK, "account/alerts", "", Page{Title: "Sign-in alerts", Nav: "account-sessions", Data: alertsView{On: u.SignInAlerts}})
}

// handleAlerts turns sign-in alerts on (alerts=on) or off (alerts=off).
func (s *Server) handleAlerts(c *fiber.Ctx) error {
	var on bool
	switch formValue(c, "alerts") {
	case "on":
		on = true
	case "off":
	default:
		return models.Invalid("alerts", "must be on or off")
	}
	if err := models.SetSignInAlerts(c.UserContext(), s.db, currentSession(c).UserID, on, s.sessions.Now()); err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"signInAlerts": on})
	}
	msg := "Sign-in alerts are off."
	if on {
		msg = "Sign-in alerts are on."
	}
	return s.view(c, fiber.StatusOK, "account/alerts", "", Page{Title: "Sign-in alerts", Nav: "account-sessions", Flash: msg, Data: alertsView{On: on}})
}
