package app

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// A signed-in user's provider accounts, on the Security page: link one
// (after a step-up, then a round trip to the provider), unlink one, and
// confirm a step-up at a linked provider instead of with a password.

// errLastSignInMethod: removing it would leave no way to sign in.
var errLastSignInMethod = fiber.NewError(fiber.StatusConflict,
	"this is your last way to sign in: set a password or link another provider before removing it")

// accountView is one linked provider account on the Security page.
type accountView struct {
	ID         int64
	Label      string
	Email      string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

func (s *Server) accountViews(c *fiber.Ctx, userID int64) ([]accountView, error) {
	list, err := models.UserAccounts(c.UserContext(), s.db, userID)
	if err != nil {
		return nil, err
	}
	out := make([]accountView, 0, len(list))
	for _, a := range list {
		out = append(out, accountView{ID: a.ID, Label: s.providerLabel(a.Provider), Email: a.Email, CreatedAt: a.CreatedAt, LastUsedAt: a.LastUsedAt})
	}
	return out, nil
}

// handleProviderLink: POST /account/providers/:name/link, after a step-up.
func (s *Server) handleProviderLink(c *fiber.Ctx) error {
	p, err := s.provider(c)
	if err != nil {
		return err
	}
	sess := currentSession(c)
	return s.beginRoundTrip(c, p, intentLink, &models.PendingSignIn{UserID: sess.UserID, SessionID: sess.ID})
}

// handleAccountUnlink: DELETE /account/accounts/:id, after a step-up.
func (s *Server) handleAccountUnlink(c *fiber.Ctx) error {
	sess := currentSession(c)
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return badParam("id", "must be a positive whole number")
	}
	gone, err := models.UnlinkAccount(c.UserContext(), s.db, sess.UserID, id, s.audit(c), s.sessions.Now())
	if errors.Is(err, models.ErrLastSignInMethod) {
		return errLastSignInMethod
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "provider account unlinked", "user_id", sess.UserID, "provider", gone.Provider)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": 1})
	}
	return s.securityPage(c, enrollee{user: sess.User, session: sess}, fiber.StatusOK, "Unlinked "+s.providerLabel(gone.Provider)+".")
}

// handleReauthProvider: POST /account/reauth/provider/:name, a step-up at
// a linked provider, which asks for the password again. A user with a
// second factor gives a code first: the provider stands for the password.
func (s *Server) handleReauthProvider(c *fiber.Ctx) error {
	p, err := s.provider(c)
	if err != nil {
		return err
	}
	sess := currentSession(c)
	next, _ := s.allowedNext(formValue(c, "next"))
	set, err := models.UserFactors(c.UserContext(), s.db, sess.UserID)
	if err != nil {
		return err
	}
	var proved models.AMR
	if set.Any() {
		code, err := parseCode(formValue(c, "code"))
		if err != nil {
			return s.reauthFailed(c, fiber.StatusBadRequest, err.Error(), next)
		}
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
		proved = models.NewAMR(method)
	}
	return s.beginRoundTrip(c, p, intentReauth, &models.PendingSignIn{UserID: sess.UserID, SessionID: sess.ID, AMR: proved, Next: next})
}

// linkedProviders are the configured providers the user has an account
// at: where they can confirm a step-up.
func (s *Server) linkedProviders(c *fiber.Ctx, userID int64) ([]providerView, error) {
	list, err := models.UserAccounts(c.UserContext(), s.db, userID)
	if err != nil {
		return nil, err
	}
	var out []providerView
	for _, p := range s.providerViews() {
		for _, a := range list {
			if a.Provider == p.Key {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}
