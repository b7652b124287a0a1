package app

import (
	"crypto/subtle"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/oauth2"

	"sessiond/models"
)

// A round trip to a provider: a form post starts it (sign in, link an
// account, or step up), the browser goes to the provider and comes back
// to the callback with a code. What the round trip is bound by — state,
// nonce, PKCE verifier, and what it is for — is held server-side in a
// pending row found by the hash of the token in its own cookie (SameSite
// Lax: the provider's redirect back is a top-level GET, which carries it).

// What a round trip is for.
const (
	intentSignIn = "signin"
	intentLink   = "link"
	intentReauth = "reauth"
)

// providerFlowTTL is how long someone may take at the provider's page.
const providerFlowTTL = 15 * time.Minute

const providerCookie = "sessiond_provider"

// ProviderCookieName holds the token of a round trip to a provider.
func (c *Config) ProviderCookieName() string {
	return c.prefixed(providerCookie, prefixSecure+providerCookie, prefixHost+providerCookie)
}

// roundTrip is what the pending row keeps (as JSON) for the callback.
type roundTrip struct {
	Provider string `json:"provider"`
	Intent   string `json:"intent"`
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Fresh    bool   `json:"fresh,omitempty"`
}

func (rt roundTrip) request() authRequest {
	return authRequest{state: rt.State, nonce: rt.Nonce, verifier: rt.Verifier, fresh: rt.Fresh}
}

// handleProviderStart: POST /login/provider/:name, the sign-in button.
func (s *Server) handleProviderStart(c *fiber.Ctx) error {
	p, err := s.provider(c)
	if err != nil {
		return err
	}
	return s.beginRoundTrip(c, p, intentSignIn, &models.PendingSignIn{Next: formValue(c, "next")})
}

// beginRoundTrip keeps row (what the callback needs besides the secrets)
// and sends the browser to the provider.
func (s *Server) beginRoundTrip(c *fiber.Ctx, p provider, intent string, row *models.PendingSignIn) error {
	ctx, now := c.UserContext(), s.sessions.Now()
	state, err := models.NewToken()
	if err != nil {
		return err
	}
	nonce, err := models.NewToken()
	if err != nil {
		return err
	}
	rt := roundTrip{Provider: p.key(), Intent: intent, State: state, Nonce: nonce, Verifier: oauth2.GenerateVerifier(), Fresh: intent == intentReauth}
	to, err := p.authCodeURL(ctx, rt.request())
	if err != nil {
		s.log.WarnContext(ctx, "sign-in provider unavailable", "provider", p.key(), "error", err)
		return providerError(p.label(), err)
	}
	secrets, err := json.Marshal(rt)
	if err != nil {
		return err
	}
	row.Purpose, row.Challenge, row.ExpiresAt = models.PendingProvider, string(secrets), now.Add(providerFlowTTL)
	row.Next, _ = s.allowedNext(row.Next)
	token, err := models.CreatePendingSignIn(ctx, s.db, row, now)
	if err != nil {
		return err
	}
	s.setCookie(c, s.cfg.ProviderCookieName(), token, row.ExpiresAt, false)
	s.log.InfoContext(ctx, "sent to sign-in provider", "provider", p.key(), "intent", intent)
	return c.Redirect(to, fiber.StatusSeeOther)
}

// errRoundTripGone: no round trip of this browser is under way for the
// provider (never started here, expired, or already finished).
var errRoundTripGone = fiber.NewError(fiber.StatusBadRequest,
	"this sign-in is not under way in this browser (it expired, finished, or began elsewhere): start again")

// takeRoundTrip claims the browser's round trip with p: it can be used once.
func (s *Server) takeRoundTrip(c *fiber.Ctx, p provider) (*models.PendingSignIn, roundTrip, error) {
	var rt roundTrip
	token := c.Cookies(s.cfg.ProviderCookieName())
	if token == "" {
		return nil, rt, errRoundTripGone
	}
	s.setCookie(c, s.cfg.ProviderCookieName(), "", s.sessions.Now(), false)
	row, err := models.FindPendingSignIn(c.UserContext(), s.db, token, s.sessions.Now())
	switch {
	case isNotFound(err):
		return nil, rt, errRoundTripGone
	case err != nil:
		return nil, rt, err
	}
	if err := models.DeletePendingSignIn(c.UserContext(), s.db, row.ID); err != nil {
		if isNotFound(err) {
			return nil, rt, errRoundTripGone
		}
		return nil, rt, err
	}
	if row.Purpose != models.PendingProvider || json.Unmarshal([]byte(row.Challenge), &rt) != nil || rt.Provider != p.key() {
		return nil, rt, errRoundTripGone
	}
	return row, rt, nil
}

// handleProviderCallback: GET /login/provider/:name/callback, where the
// provider sends the browser back. The round trip is claimed first, so a
// callback that fails cannot be replayed.
func (s *Server) handleProviderCallback(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, err := s.provider(c)
	if err != nil {
		return err
	}
	row, rt, err := s.takeRoundTrip(c, p)
	if err != nil {
		return s.roundTripFailed(c, intentSignIn, "", err)
	}
	if e := c.Query("error"); e != "" {
		s.log.InfoContext(ctx, "sign-in provider said no", "provider", p.key(), "error", clip(e, 64), "description", clip(c.Query("error_description"), 200))
		return s.roundTripFailed(c, rt.Intent, row.Next, fiber.NewError(fiber.StatusUnauthorized, p.label()+" did not sign you in ("+clip(e, 64)+")"))
	}
	if subtle.ConstantTimeCompare([]byte(c.Query("state")), []byte(rt.State)) != 1 {
		s.log.WarnContext(ctx, "sign-in provider callback refused: state does not match", "provider", p.key())
		return s.roundTripFailed(c, rt.Intent, row.Next, fiber.NewError(fiber.StatusBadRequest, "the answer from "+p.label()+" does not belong to this sign-in (state): start again"))
	}
	code := c.Query("code")
	if code == "" || len(code) > 2048 {
		return s.roundTripFailed(c, rt.Intent, row.Next, fiber.NewError(fiber.StatusBadRequest, "the answer from "+p.label()+" has no code: start again"))
	}
	id, err := p.identify(ctx, code, rt.request())
	if err != nil {
		s.log.WarnContext(ctx, "sign-in provider answer refused", "provider", p.key(), "error", err)
		return s.roundTripFailed(c, rt.Intent, row.Next, providerError(p.label(), err))
	}
	switch rt.Intent {
	case intentLink:
		return s.finishLink(c, p, row, id)
	case intentReauth:
		return s.finishProviderReauth(c, p, row, id)
	}
	return s.finishProviderSignIn(c, p, row, id)
}

// roundTripFailed answers a callback that cannot go on: the sign-in page
// with why for a sign-in, the error page otherwise.
func (s *Server) roundTripFailed(c *fiber.Ctx, intent, next string, err error) error {
	fe, ok := err.(*fiber.Error)
	if !ok || intent != intentSignIn {
		return err
	}
	return s.loginFailed(c, fe.Code, fe.Message, "", next)
}
