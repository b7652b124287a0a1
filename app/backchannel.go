package app

import (
	"context"
	"errors"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// handleBackchannelLogout is OpenID Connect Back-Channel Logout 1.0: the
// provider posts a logout token (a JWT it signed) naming the user (sub)
// and/or its session (sid), and the sessions signed in through it end at
// once. The token is verified as an ID token is — signature, issuer,
// audience, expiry — and must carry the logout event and no nonce.
// Anything else is 400 and ends nothing.
func (s *Server) handleBackchannelLogout(c *fiber.Ctx) error {
	ctx := c.UserContext()
	c.Set(fiber.HeaderCacheControl, "no-store")
	p, err := s.provider(c)
	if err != nil {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "unknown provider"})
	}
	op, ok := p.(*oidcProvider)
	if !ok {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": p.label() + " has no back-channel logout"})
	}
	raw := formValue(c, "logout_token")
	if raw == "" {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "invalid_request: logout_token is required (form field)"})
	}
	lt, err := op.verifyLogout(ctx, raw)
	var down *providerDown
	switch {
	case errors.As(err, &down):
		s.log.WarnContext(ctx, "back-channel logout: provider unreachable", "provider", p.key(), "error", err)
		c.Set(fiber.HeaderRetryAfter, "5")
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "temporarily_unavailable: " + p.label() + " cannot be reached to check the token"})
	case err != nil:
		s.log.WarnContext(ctx, "back-channel logout refused", "provider", p.key(), "error", err)
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "invalid_request: the logout token does not verify"})
	}
	var userID int64
	if lt.Subject != "" {
		acct, err := models.FindAccount(ctx, s.db, p.key(), lt.Subject)
		switch {
		case isNotFound(err):
			return c.JSON(fiber.Map{"deleted": 0}) // nobody here has that account
		case err != nil:
			return err
		}
		userID = acct.UserID
	}
	n, err := s.sessions.EndProviderSessions(ctx, p.key(), userID, lt.SessionID, models.Audit{IP: s.clientIP(c), UserAgent: p.key() + " back-channel logout"})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "back-channel logout", "provider", p.key(), "user_id", userID, "by_sid", lt.SessionID != "", "sessions_ended", n)
	return c.JSON(fiber.Map{"deleted": n})
}

// verifyLogout checks a back-channel logout token with the provider's keys.
func (o *oidcProvider) verifyLogout(ctx context.Context, raw string) (*oidc.LogoutToken, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return nil, err
	}
	return p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.now}).VerifyLogout(oidc.ClientContext(ctx, o.client), raw)
}
