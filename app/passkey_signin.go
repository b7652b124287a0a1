package app

import (
	"encoding/json"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// handlePasskeyLoginOptions begins a passkey sign-in: as the second step
// of the pending sign-in (?for=second-factor, the user's own passkeys), or
// alone, for whoever's passkey answers (discoverable, user verification
// required, held in a pending sign-in of its own).
func (s *Server) handlePasskeyLoginOptions(c *fiber.Ctx) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	if c.Query("for") == "second-factor" {
		p, err := s.pendingSignIn(c, models.PendingSecondFactor)
		if err != nil {
			return err
		}
		user, err := models.FindUser(c.UserContext(), s.db, p.UserID)
		if err != nil {
			return err
		}
		u, err := s.passkeyUser(c, user, false)
		if err != nil {
			return err
		}
		if len(u.creds) == 0 {
			return fiber.NewError(fiber.StatusConflict, "this account has no passkey: use a code")
		}
		assertion, sd, err := s.webauthn.BeginLogin(u)
		if err != nil {
			return err
		}
		return s.passkeyChallenge(c, p.ID, assertion, sd)
	}
	attempt, err := s.passkeyLimit.begin(c.UserContext(), "", "", s.clientIP(c))
	if err != nil {
		return err
	}
	if attempt.wait != "" {
		c.Set(fiber.HeaderRetryAfter, attempt.wait)
		return fiber.NewError(fiber.StatusTooManyRequests, "too many passkey sign-ins from this address, try again later")
	}
	assertion, sd, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	next, _ := s.allowedNext(c.Query("next"))
	p := &models.PendingSignIn{Purpose: models.PendingPasskey, Next: next}
	if err := s.holdPending(c, p); err != nil {
		return err
	}
	return s.passkeyChallenge(c, p.ID, assertion, sd)
}

func (s *Server) passkeyChallenge(c *fiber.Ctx, pendingID int64, assertion *protocol.CredentialAssertion, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	if err := models.SetPendingChallenge(c.UserContext(), s.db, pendingID, string(data)); err != nil {
		return err
	}
	return c.JSON(assertion)
}

// handlePasskeyLogin verifies the browser's assertion and ends the sign-in
// in a session: amr webauthn alone, or added to the password's. It answers
// JSON {redirect} for webauthn.js.
func (s *Server) handlePasskeyLogin(c *fiber.Ctx) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	ctx := c.UserContext()
	p, err := s.pendingSignIn(c, models.PendingSecondFactor, models.PendingPasskey)
	if err != nil {
		return err
	}
	var sd webauthn.SessionData
	if p.Challenge == "" || json.Unmarshal([]byte(p.Challenge), &sd) != nil {
		return errNoCeremony
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(c.Body())
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "credential: "+passkeyProblem(err))
	}
	var u *passkeyUser
	var cred *webauthn.Credential
	amr := models.NewAMR(models.MethodWebAuthn)
	if p.Purpose == models.PendingSecondFactor {
		user, err := models.FindUser(ctx, s.db, p.UserID)
		if err != nil {
			return err
		}
		if u, err = s.passkeyUser(c, user, false); err != nil {
			return err
		}
		cred, err = s.webauthn.ValidateLogin(u, sd, parsed)
		amr = p.AMR.With(models.MethodWebAuthn)
	} else {
		_, cred, err = s.webauthn.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			user, err := models.UserByWebAuthnHandle(ctx, s.db, handle)
			if err != nil {
				return nil, err
			}
			u, err = s.passkeyUser(c, user, false)
			return u, err
		}, sd, parsed)
	}
	if err == nil && cred.Authenticator.CloneWarning {
		err = &protocol.Error{Details: "the passkey's signature counter went backwards: it may have been copied"}
	}
	if err != nil {
		return s.passkeyRefused(c, p, u, err)
	}
	f := u.factorOf(cred)
	if f == nil {
		return s.passkeyRefused(c, p, u, &protocol.Error{Details: "unknown passkey"})
	}
	stored, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if err := models.UsePasskey(ctx, s.db, f.ID, string(stored), s.sessions.Now()); err != nil {
		return err
	}
	r, err := s.startSession(c, signIn{user: u.user, amr: amr, next: p.Next, pending: p})
	if err != nil {
		return err
	}
	to := r.step
	if to == "" {
		to = s.safeNext(p.Next)
	}
	return c.JSON(fiber.Map{"redirect": to, "amr": amr.List()})
}

// passkeyRefused counts a refused assertion against the pending sign-in
// (dropped after a few) and leaves a trace in the audit trail.
func (s *Server) passkeyRefused(c *fiber.Ctx, p *models.PendingSignIn, u *passkeyUser, err error) error {
	reason := passkeyProblem(err)
	ev := &models.Event{At: s.sessions.Now(), Kind: models.EventSignInFailed, IP: s.clientIP(c),
		UserAgent: clip(c.Get(fiber.HeaderUserAgent), 512), Detail: "passkey refused: " + clip(reason, 200)}
	if u != nil {
		ev.UserID = &u.user.ID
	}
	if err := models.RecordEvent(c.UserContext(), s.db, ev); err != nil {
		s.log.WarnContext(c.UserContext(), "record refused passkey", "error", err)
	}
	s.log.InfoContext(c.UserContext(), "passkey refused", "reason", reason)
	if dropped, err := models.FailPendingSignIn(c.UserContext(), s.db, p.ID); err != nil {
		return err
	} else if dropped {
		s.clearPendingCookie(c)
	}
	return fiber.NewError(fiber.StatusUnauthorized, "the passkey was not accepted: "+reason)
}
