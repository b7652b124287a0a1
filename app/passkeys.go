package app

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"strconv"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// Passkeys (WebAuthn, go-webauthn): registered on the security page (or
// right after the password when the policy requires a factor), used as
// the second step of a sign-in, or alone ("Sign in with a passkey",
// discoverable credentials, user verification required). The browser
// side is static/webauthn.js; each ceremony's challenge is kept
// server-side in a pending_signins row, used once.

// newWebAuthn is the relying party: id and origin from BASE_URL, or
// localhost on LISTEN_ADDR's port for development. nil (passkeys off)
// when BASE_URL's host is an IP address, which browsers refuse as an id.
func newWebAuthn(cfg *Config) (*webauthn.WebAuthn, error) {
	rpID, origin := "localhost", "http://localhost"
	if _, port, err := net.SplitHostPort(cfg.ListenAddr); err == nil {
		origin += ":" + port
	}
	if cfg.BaseURL != nil {
		rpID, origin = cfg.BaseURL.Hostname(), cfg.BaseURL.Scheme+"://"+cfg.BaseURL.Host
	}
	if net.ParseIP(rpID) != nil {
		return nil, nil
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: models.PendingSignInTTL, TimeoutUVD: models.PendingSignInTTL}
	return webauthn.New(&webauthn.Config{
		RPID: rpID, RPDisplayName: "sessiond", RPOrigins: []string{origin},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
}

var errNoPasskeys = fiber.NewError(fiber.StatusNotFound, "passkeys need BASE_URL with a host name (not an IP address)")

// passkeyUser is a user as the WebAuthn library sees them.
type passkeyUser struct {
	user    *models.User
	handle  []byte
	factors []models.Factor
	creds   []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte                         { return p.handle }
func (p *passkeyUser) WebAuthnName() string                       { return p.user.Email }
func (p *passkeyUser) WebAuthnDisplayName() string                { return p.user.Name }
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// factorOf is the stored passkey of a credential the library accepted.
func (p *passkeyUser) factorOf(cred *webauthn.Credential) *models.Factor {
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	for i := range p.factors {
		if p.factors[i].CredentialID == id {
			return &p.factors[i]
		}
	}
	return nil
}

func (s *Server) passkeyUser(c *fiber.Ctx, u *models.User, create bool) (*passkeyUser, error) {
	handle, err := models.WebAuthnHandle(c.UserContext(), s.db, u.ID, create)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	set, err := models.UserFactors(c.UserContext(), s.db, u.ID)
	if err != nil {
		return nil, err
	}
	p := &passkeyUser{user: u, handle: handle, factors: set.Passkeys}
	for _, f := range set.Passkeys {
		var cred webauthn.Credential
		if err := json.Unmarshal([]byte(f.Secret), &cred); err != nil {
			return nil, err
		}
		p.creds = append(p.creds, cred)
	}
	return p, nil
}

// handlePasskeyRegisterOptions begins adding a passkey.
func (s *Server) handlePasskeyRegisterOptions(c *fiber.Ctx) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	e, err := s.enrollee(c)
	if err != nil {
		return err
	}
	u, err := s.passkeyUser(c, e.user, true)
	if err != nil {
		return err
	}
	creation, sd, err := s.webauthn.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return err
	}
	if err := s.keepCeremony(c, e, sd); err != nil {
		return err
	}
	return c.JSON(creation)
}

// passkeyRegistration is what webauthn.js posts: a name and the credential.
type passkeyRegistration struct {
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// handlePasskeyRegister verifies and stores a new passkey.
func (s *Server) handlePasskeyRegister(c *fiber.Ctx) error {
	if s.webauthn == nil {
		return errNoPasskeys
	}
	e, err := s.enrollee(c)
	if err != nil {
		return err
	}
	var in passkeyRegistration
	if err := json.Unmarshal(c.Body(), &in); err != nil || len(in.Credential) == 0 {
		return fiber.NewError(fiber.StatusBadRequest, "want JSON {name, credential} from the browser's passkey dialog")
	}
	name := models.CleanFactorName(in.Name)
	if name == "" && in.Name != "" {
		return fiber.NewError(fiber.StatusUnprocessableEntity, "name: at most 64 characters, no control characters")
	}
	if name == "" {
		name = "Passkey on " + describeDevice(c.Get(fiber.HeaderUserAgent))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "credential: "+passkeyProblem(err))
	}
	sd, err := s.takeCeremony(c, e)
	if err != nil {
		return err
	}
	u, err := s.passkeyUser(c, e.user, false)
	if err != nil {
		return err
	}
	cred, err := s.webauthn.CreateCredential(u, sd, parsed)
	if err != nil {
		s.log.InfoContext(c.UserContext(), "passkey registration refused", "user_id", e.user.ID, "reason", passkeyProblem(err))
		return fiber.NewError(fiber.StatusBadRequest, "the passkey could not be verified: "+passkeyProblem(err))
	}
	stored, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	codes, err := models.AddPasskey(c.UserContext(), s.db, e.user.ID, name, base64.RawURLEncoding.EncodeToString(cred.ID),
		string(stored), e.sessionID(), s.auditFor(c, e), s.sessions.Now())
	if errors.Is(err, models.ErrConflict) {
		return fiber.NewError(fiber.StatusConflict, "this passkey is already registered")
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(c.UserContext(), "passkey added", "user_id", e.user.ID)
	return s.factorAdded(c, e, models.MethodWebAuthn, codes, "Passkey added.")
}

// keepCeremony stores a ceremony's session data: in the pending sign-in
// of a user enrolling right after the password, else in a row of the
// session's own.
func (s *Server) keepCeremony(c *fiber.Ctx, e enrollee, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	if e.pending != nil {
		return models.SetPendingChallenge(c.UserContext(), s.db, e.pending.ID, string(data))
	}
	p := &models.PendingSignIn{UserID: e.user.ID, SessionID: e.session.ID, Purpose: models.PendingCeremony, Challenge: string(data)}
	_, err = models.CreatePendingSignIn(c.UserContext(), s.db, p, s.sessions.Now())
	return err
}

var errNoCeremony = fiber.NewError(fiber.StatusBadRequest, "no passkey ceremony is under way (or it took over 5 minutes): start again")

// takeCeremony returns the ceremony's session data, once: a session's
// ceremony row is deleted as it is read.
func (s *Server) takeCeremony(c *fiber.Ctx, e enrollee) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	p := e.pending
	if p == nil {
		var err error
		if p, err = models.FindCeremony(c.UserContext(), s.db, e.session.ID, s.sessions.Now()); err != nil {
			if isNotFound(err) {
				return sd, errNoCeremony
			}
			return sd, err
		}
		if err := models.DeletePendingSignIn(c.UserContext(), s.db, p.ID); err != nil {
			if isNotFound(err) {
				return sd, errNoCeremony
			}
			return sd, err
		}
	}
	if p.Challenge == "" || json.Unmarshal([]byte(p.Challenge), &sd) != nil {
		return sd, errNoCeremony
	}
	return sd, nil
}

// passkeyProblem is what went wrong with a passkey, in the library's words
// (never key material).
func passkeyProblem(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return "malformed"
}

// handleFactorRename names one of the user's passkeys.
func (s *Server) handleFactorRename(c *fiber.Ctx) error {
	sess := currentSession(c)
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return badParam("id", "must be a positive whole number")
	}
	name := models.CleanFactorName(formValue(c, "name"))
	if name == "" {
		return fiber.NewError(fiber.StatusUnprocessableEntity, "name: 1 to 64 characters, no control characters")
	}
	if err := models.RenameFactor(c.UserContext(), s.db, sess.UserID, id, name); err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"id": id, "name": name})
	}
	return s.securityPage(c, enrollee{user: sess.User, session: sess}, fiber.StatusOK, "Renamed to "+name+".")
}
