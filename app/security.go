package app

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// The account's security page: its second factors (an authenticator app,
// passkeys) and recovery codes. A user the policy sent to enrol right
// after the password sees the same page without a session (stepEnrol).

type securityView struct {
	TOTP         *models.Factor
	Passkeys     []models.Factor
	RecoveryLeft int
	Required     bool // the policy wants this user to keep a second factor
	Enrolling    bool // no session yet: enrolling finishes the sign-in
	Now          time.Time
}

// enrollee is who a factor is being enrolled for: the signed-in user, or,
// when the policy sent a user to enrol right after the password, the
// user of that pending sign-in (no session exists yet).
type enrollee struct {
	user    *models.User
	session *models.Session
	pending *models.PendingSignIn
}

func (s *Server) enrollee(c *fiber.Ctx) (enrollee, error) {
	if sess := currentSession(c); sess != nil {
		return enrollee{user: sess.User, session: sess}, nil
	}
	p, err := s.pendingSignIn(c, models.PendingEnrol)
	if err != nil {
		return enrollee{}, errUnauthenticated
	}
	u, err := models.FindUser(c.UserContext(), s.db, p.UserID)
	if isNotFound(err) {
		return enrollee{}, errUnauthenticated
	}
	return enrollee{user: u, pending: p}, err
}

// auditFor is who acts in an enrolment: the user themself, from this request.
func (s *Server) auditFor(c *fiber.Ctx, e enrollee) models.Audit {
	a := s.audit(c)
	a.ActorID = e.user.ID
	return a
}

func (e enrollee) sessionID() int64 {
	if e.session == nil {
		return 0
	}
	return e.session.ID
}

func (s *Server) handleSecurity(c *fiber.Ctx) error {
	e, err := s.enrollee(c)
	if err != nil {
		return err
	}
	if e.session == nil && c.Path() != stepEnrol {
		return redirect(c, stepEnrol)
	}
	return s.securityPage(c, e, fiber.StatusOK, "")
}

func (s *Server) securityPage(c *fiber.Ctx, e enrollee, status int, flash string) error {
	set, err := models.UserFactors(c.UserContext(), s.db, e.user.ID)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.Status(status).JSON(securityJSON(set))
	}
	v := securityView{TOTP: set.TOTP, Passkeys: set.Passkeys, RecoveryLeft: set.RecoveryLeft,
		Required: s.cfg.Requires2FA(e.user.Role), Enrolling: e.session == nil, Now: s.sessions.Now()}
	p := Page{Title: "Security", Nav: "account-security", Flash: flash, Data: v}
	if e.session == nil {
		p.Title = "Set up a second factor"
	}
	return s.view(c, status, "account/security", "", p)
}

func securityJSON(set models.FactorSet) fiber.Map {
	passkeys := make([]fiber.Map, 0, len(set.Passkeys))
	for _, f := range set.Passkeys {
		passkeys = append(passkeys, factorJSON(&f))
	}
	m := fiber.Map{"totp": nil, "passkeys": passkeys, "recoveryCodesLeft": set.RecoveryLeft}
	if set.TOTP != nil {
		m["totp"] = factorJSON(set.TOTP)
	}
	return m
}

func factorJSON(f *models.Factor) fiber.Map {
	m := fiber.Map{"id": f.ID, "kind": f.Kind, "name": f.Name, "createdAt": f.CreatedAt, "lastUsedAt": nil}
	if !f.LastUsedAt.IsZero() {
		m["lastUsedAt"] = f.LastUsedAt
	}
	return m
}
