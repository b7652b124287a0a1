package app

import (
	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// signIn is what one way of signing in proved: who, by which methods (and
// through which provider), and where the browser goes afterwards. pending
// is the held sign-in it completes (a second step), if any.
type signIn struct {
	user        *models.User
	amr         models.AMR
	next        string
	pending     *models.PendingSignIn
	provider    string // the provider that vouched for the user, if any
	providerSID string // its session id, which its back-channel logout may name
	native      bool   // a native client: the token goes in the answer, not a cookie
}

// signedIn is where a sign-in got to: a session, or a step still to take
// (step is its page: the second factor, or enrolling one).
type signedIn struct {
	session *models.Session
	token   string // the session's secret, for a native client's answer
	step    string
}

// errAccountDisabled answers a sign-in to a disabled account. It comes
// only after the password (or other proof) was right, so it tells nothing
// to someone guessing.
var errAccountDisabled = fiber.NewError(fiber.StatusForbidden, "this account is disabled: ask an admin to enable it")

const (
	stepSecondFactor = "/login/second-factor"
	stepEnrol        = "/login/enrol"
)

// startSession is where every way of signing in ends: the user has proved
// who they are, so the session the request arrived with (perhaps another
// user's) ends, a new one begins and its cookie is set. Checks that apply
// to every method belong here, once: a disabled account is refused; a user with a second factor who has
// not proved one yet, or whom the policy wants to enrol one, is held in a
// pending sign-in instead, and no session exists until that is done. The
// session records how it was made and whether that was a step-up-grade
// proof (see models.Proof).
func (s *Server) startSession(c *fiber.Ctx, in signIn) (signedIn, error) {
	ctx := c.UserContext()
	if in.user.Disabled() {
		return signedIn{}, errAccountDisabled
	}
	if err := s.requireVerifiedEmail(ctx, in.user); err != nil {
		return signedIn{}, err
	}
	if in.pending != nil && in.provider == "" { // a provider sign-in's second step
		in.provider, in.providerSID = in.pending.Provider, in.pending.ProviderSID
	}
	factors, err := models.UserFactors(ctx, s.db, in.user.ID)
	if err != nil {
		return signedIn{}, err
	}
	switch {
	case factors.Any() && !in.amr.MultiFactor():
		return s.holdSignIn(c, in, models.PendingSecondFactor, stepSecondFactor)
	case !factors.Any() && s.cfg.Requires2FA(in.user.Role):
		return s.holdSignIn(c, in, models.PendingEnrol, stepEnrol)
	}
	if in.pending != nil {
		// Claimed once: a second request finishing the same step finds it gone.
		if err := models.DeletePendingSignIn(ctx, s.db, in.pending.ID); err != nil {
			if isNotFound(err) {
				return signedIn{}, errPendingGone
			}
			return signedIn{}, err
		}
		s.clearPendingCookie(c)
	}
	if !in.native { // a native client's answer replaces no cookie
		if err := s.endOldSession(c); err != nil {
			return signedIn{}, err
		}
	}
	proof := models.Proof{AMR: in.amr, Strong: in.amr.MultiFactor() || !factors.Any(), Provider: in.provider, ProviderSID: in.providerSID}
	client := s.client(c)
	client.Country, client.City = s.geo.locate(client.IP) // only at sign-in: the hot path never looks
	token, sess, err := s.sessions.SignInWith(ctx, in.user.ID, client, proof)
	if err != nil {
		return signedIn{}, err
	}
	sess.User = in.user
	s.log.InfoContext(ctx, "signed in", "user_id", in.user.ID, "session_id", sess.ID, "amr", string(in.amr), "provider", in.provider)
	if in.native {
		return signedIn{session: sess, token: token}, nil
	}
	s.setSessionCookie(c, token, sess.ExpiresAt)
	c.Locals(localsSession, sess) // the page after this carries the new session's CSRF token
	return signedIn{session: sess}, nil
}

// holdSignIn keeps a sign-in that needs another step server-side, for at
// most models.PendingSignInTTL, in its own cookie.
func (s *Server) holdSignIn(c *fiber.Ctx, in signIn, purpose, step string) (signedIn, error) {
	if err := s.endOldSession(c); err != nil {
		return signedIn{}, err
	}
	next, _ := s.allowedNext(in.next)
	p := &models.PendingSignIn{UserID: in.user.ID, Purpose: purpose, AMR: in.amr, Next: next, Provider: in.provider, ProviderSID: in.providerSID}
	if err := s.holdPending(c, p); err != nil {
		return signedIn{}, err
	}
	if in.pending != nil {
		_ = models.DeletePendingSignIn(c.UserContext(), s.db, in.pending.ID)
	}
	s.log.InfoContext(c.UserContext(), "sign-in held for a second step", "user_id", in.user.ID, "purpose", purpose)
	return signedIn{step: step}, nil
}

// finishSignIn answers a sign-in: JSON says who is signed in, or which
// step is missing (401 with secondFactor or enrol set); a browser goes to
// next, or to the step.
func (s *Server) finishSignIn(c *fiber.Ctx, r signedIn, next string) error {
	if wantsJSON(c) {
		switch r.step {
		case stepSecondFactor:
			return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "a second factor is required", "secondFactor": true, "next": r.step})
		case stepEnrol:
			return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "a second factor must be set up first", "enrol": true, "next": r.step})
		}
		return c.JSON(fiber.Map{"user": userJSON(r.session.User), "expires": r.session.ExpiresAt, "amr": r.session.AMR.List()})
	}
	if r.step != "" {
		return redirect(c, r.step)
	}
	return redirect(c, s.safeNext(next))
}

// endOldSession ends the session the request arrived with: signing in as
// anyone never keeps it (it may be another user's).
func (s *Server) endOldSession(c *fiber.Ctx) error {
	old := c.Cookies(s.cfg.CookieName())
	if old == "" {
		return nil
	}
	if _, err := s.sessions.DeleteSession(c.UserContext(), old, s.audit(c)); err != nil {
		return err
	}
	if currentSession(c) != nil {
		c.Locals(localsSession, nil)
		s.clearSessionCookie(c)
	}
	return nil
}
