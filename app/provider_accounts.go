package app

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// What a provider's word leads to: a sign-in as the user who linked that
// account (or, by the rules below, a link or a new user), a link for the
// signed-in user, or a step-up of their session.

// finishProviderSignIn signs in the user the provider vouched for.
func (s *Server) finishProviderSignIn(c *fiber.Ctx, p provider, row *models.PendingSignIn, id identity) error {
	user, err := s.providerUser(c, p, id)
	if err != nil {
		return s.roundTripFailed(c, intentSignIn, row.Next, err)
	}
	if user, err = s.syncAdminGroup(c.UserContext(), p, user, id); err != nil {
		return err
	}
	r, err := s.startSession(c, signIn{user: user, amr: models.NewAMR(models.MethodFederated), next: row.Next,
		provider: p.key(), providerSID: id.sid})
	if err != nil {
		return s.roundTripFailed(c, intentSignIn, row.Next, err)
	}
	return s.finishSignIn(c, r, row.Next)
}

// providerUser is who signs in with the provider's identity: the user who
// linked that account; else, when the provider says the email is verified
// and OIDC_LINK_BY_EMAIL is on, the user with that email (the account is
// linked to them now); else, when SIGNUP lets providers in, a new user. An
// email outside OIDC_ALLOWED_DOMAINS can neither link nor sign up.
func (s *Server) providerUser(c *fiber.Ctx, p provider, id identity) (*models.User, error) {
	ctx, now := c.UserContext(), s.sessions.Now()
	acct, err := models.FindAccount(ctx, s.db, p.key(), id.subject)
	switch {
	case err == nil:
		if err := models.TouchAccount(ctx, s.db, acct.ID, now); err != nil {
			return nil, err
		}
		return models.FindUser(ctx, s.db, acct.UserID)
	case !isNotFound(err):
		return nil, err
	case id.email == "":
		return nil, fiber.NewError(fiber.StatusForbidden, p.label()+" did not tell sessiond your email address, and this "+p.label()+
			" account is not linked to anyone here: sign in another way and link it on the Security page")
	}
	newAcct := &models.Account{Provider: p.key(), Subject: id.subject, Email: id.email}
	existing, err := models.FindUserByEmail(ctx, s.db, id.email)
	switch {
	case err == nil:
		if !s.cfg.LinkByEmail || !id.emailVerified || !s.cfg.emailDomainAllowed(id.email) {
			return nil, fiber.NewError(fiber.StatusConflict, "an account with the email "+id.email+" already exists: sign in to it another way, then link "+
				p.label()+" on the Security page")
		}
		newAcct.UserID = existing.ID
		if err := models.LinkAccount(ctx, s.db, newAcct, models.Audit{ActorID: existing.ID, IP: s.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}, now); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "provider account linked by verified email", "provider", p.key(), "user_id", existing.ID)
		return existing, nil
	case !isNotFound(err):
		return nil, err
	}
	return s.signUpThroughProvider(c, p, id, newAcct)
}

func (s *Server) signUpThroughProvider(c *fiber.Ctx, p provider, id identity, acct *models.Account) (*models.User, error) {
	switch {
	case s.cfg.Signup == signupOff:
		return nil, fiber.NewError(fiber.StatusForbidden, "there is no account for "+id.email+" here, and sign-up is closed: ask an administrator for one")
	case !id.emailVerified:
		return nil, fiber.NewError(fiber.StatusForbidden, p.label()+" has not verified "+id.email+": verify it there, then sign in again")
	case !s.cfg.emailDomainAllowed(id.email):
		return nil, fiber.NewError(fiber.StatusForbidden, "sign-up is open only to addresses at "+strings.Join(s.cfg.AllowedDomains, ", "))
	}
	name := strings.TrimSpace(id.name)
	if name == "" || len(name) > 200 {
		name, _, _ = strings.Cut(id.email, "@")
	}
	u, err := models.CreateProviderUser(c.UserContext(), s.db, models.NewUser{Email: id.email, Name: name, Role: models.RoleUser},
		acct, s.audit(c), s.sessions.Now())
	if errors.Is(err, models.ErrConflict) { // signed up twice at once: the other one won
		return nil, fiber.NewError(fiber.StatusConflict, "this account was just created: sign in again")
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(c.UserContext(), "signed up through provider", "provider", p.key(), "user_id", u.ID)
	return u, nil
}

// syncAdminGroup makes the user an admin when the provider's groups claim
// has OIDC_<P>_ADMIN_GROUP, a user when it has not, at each sign-in. A
// role change ends the user's other sessions, as any role change does.
func (s *Server) syncAdminGroup(ctx context.Context, p provider, u *models.User, id identity) (*models.User, error) {
	op, ok := p.(*oidcProvider)
	if !ok || op.cfg.AdminGroup == "" {
		return u, nil
	}
	want := models.RoleUser
	if slices.Contains(id.groups, op.cfg.AdminGroup) {
		want = models.RoleAdmin
	}
	if u.Role == want {
		return u, nil
	}
	n, err := models.SetUserRole(ctx, s.db, u.ID, want, models.Audit{UserAgent: "sessiond: " + p.key() + " groups"}, s.sessions.Now())
	if errors.Is(err, models.ErrConflict) { // the last active admin stays one
		s.log.WarnContext(ctx, "provider groups would demote the last active admin: role kept", "provider", p.key(), "user_id", u.ID)
		return u, nil
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "role set from provider groups", "provider", p.key(), "user_id", u.ID, "role", want, "sessions_ended", n)
	fresh := *u
	fresh.Role = want
	return &fresh, nil
}

// finishLink links the provider account to the signed-in user who started
// the round trip (after a step-up).
func (s *Server) finishLink(c *fiber.Ctx, p provider, row *models.PendingSignIn, id identity) error {
	ctx := c.UserContext()
	sess := currentSession(c)
	if sess == nil || sess.ID != row.SessionID {
		return fiber.NewError(fiber.StatusForbidden, "this link was started in another session: start it again from the Security page")
	}
	acct, err := models.FindAccount(ctx, s.db, p.key(), id.subject)
	switch {
	case err == nil && acct.UserID == sess.UserID:
		return redirect(c, "/account/security")
	case err == nil:
		return fiber.NewError(fiber.StatusConflict, "this "+p.label()+" account is already linked to another user")
	case !isNotFound(err):
		return err
	}
	err = models.LinkAccount(ctx, s.db, &models.Account{UserID: sess.UserID, Provider: p.key(), Subject: id.subject, Email: id.email}, s.audit(c), s.sessions.Now())
	if errors.Is(err, models.ErrConflict) {
		return fiber.NewError(fiber.StatusConflict, "this "+p.label()+" account is already linked to another user")
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "provider account linked", "provider", p.key(), "user_id", sess.UserID)
	return redirect(c, "/account/security")
}

// finishProviderReauth records a step-up proved at the provider: it must
// be the account linked to the session's user, and, for a user with a
// second factor, a code was checked before the round trip began.
func (s *Server) finishProviderReauth(c *fiber.Ctx, p provider, row *models.PendingSignIn, id identity) error {
	ctx := c.UserContext()
	sess := currentSession(c)
	if sess == nil || sess.ID != row.SessionID {
		return fiber.NewError(fiber.StatusForbidden, "this confirmation was started in another session: start again")
	}
	acct, err := models.FindAccount(ctx, s.db, p.key(), id.subject)
	if isNotFound(err) || (err == nil && acct.UserID != sess.UserID) {
		return fiber.NewError(fiber.StatusForbidden, "sign in at "+p.label()+" with the account linked to you")
	}
	if err != nil {
		return err
	}
	if err := s.sessions.MarkStrong(ctx, sess.ID, sess.UserID, row.AMR.With(models.MethodFederated), s.audit(c)); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "stepped up", "user_id", sess.UserID, "session_id", sess.ID, "provider", p.key())
	return redirect(c, s.safeNext(row.Next))
}
