package app

import (
	"context"
	"crypto/subtle"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

type setupView struct {
	Token string
	Email string
	Name  string
	Error string
}

// OpenSetup makes a one-time token when no admin exists, for the log to
// show as /setup?token=…; it returns "" when an admin exists.
func (s *Server) OpenSetup(ctx context.Context) (string, error) {
	n, err := models.CountAdmins(ctx, s.db)
	if err != nil || n > 0 {
		return "", err
	}
	token, err := models.NewToken()
	if err != nil {
		return "", err
	}
	s.setup.mu.Lock()
	s.setup.token = token
	s.setup.mu.Unlock()
	return token, nil
}

// setupToken checks the token of a setup request; a wrong token or a
// closed setup is 404, so the page does not advertise itself.
func (s *Server) checkSetupToken(token string) error {
	s.setup.mu.Lock()
	defer s.setup.mu.Unlock()
	if s.setup.token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.setup.token)) != 1 {
		return fiber.NewError(fiber.StatusNotFound, "setup is closed or the link is wrong")
	}
	return nil
}

func (s *Server) handleSetupForm(c *fiber.Ctx) error {
	token := c.Query("token")
	if err := s.checkSetupToken(token); err != nil {
		return err
	}
	return s.view(c, fiber.StatusOK, "auth/setup", "", Page{Title: "Create the first admin", Data: setupView{Token: token}})
}

// handleSetup creates the first admin and signs them in; the token then
// stops working.
func (s *Server) handleSetup(c *fiber.Ctx) error {
	token := formValue(c, "token")
	if err := s.checkSetupToken(token); err != nil {
		return err
	}
	s.setup.mu.Lock()
	defer s.setup.mu.Unlock()
	if s.setup.token == "" {
		return fiber.NewError(fiber.StatusNotFound, "setup is closed")
	}
	n, err := models.CountAdmins(c.UserContext(), s.db)
	if err != nil {
		return err
	}
	if n > 0 {
		s.setup.token = ""
		return fiber.NewError(fiber.StatusConflict, "an admin already exists")
	}
	in := models.NewUser{Email: formValue(c, "email"), Name: formValue(c, "name"), Role: models.RoleAdmin, Password: formValue(c, "password"), EmailVerified: true}
	user, err := models.CreateUser(c.UserContext(), s.db, in, s.sessions.Now())
	if err != nil {
		if status, msg := statusOf(err); status < 500 {
			return s.view(c, status, "auth/setup", "", Page{Title: "Create the first admin",
				Data: setupView{Token: token, Email: in.Email, Name: in.Name, Error: msg}})
		}
		return err
	}
	s.setup.token = ""
	_ = models.RecordEvent(c.UserContext(), s.db, &models.Event{At: s.sessions.Now(), Kind: models.EventUserCreated,
		UserID: &user.ID, IP: s.clientIP(c), UserAgent: clip(c.Get(fiber.HeaderUserAgent), 512), Detail: "first admin via setup"})
	s.log.InfoContext(c.UserContext(), "first admin created", "user_id", user.ID)
	r, err := s.startSession(c, signIn{user: user, amr: models.MethodPassword, next: "/admin/sessions"})
	if err != nil {
		return err
	}
	return s.finishSignIn(c, r, "/admin/sessions")
}
