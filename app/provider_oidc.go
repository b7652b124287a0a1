package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"sessiond/models"
)

// oidcProvider is an OpenID Connect provider, found by discovery from its
// issuer URL: the authorization code flow with PKCE (S256), state and
// nonce; the ID token's signature, issuer, audience, expiry and nonce are
// verified by go-oidc against the provider's published keys.
type oidcProvider struct {
	cfg      ProviderConfig
	redirect string
	client   *http.Client
	now      func() time.Time

	// Discovery is lazy and retried: a provider that is down when
	// sessiond starts must not keep it from starting, nor stay broken.
	mu         sync.Mutex
	disc       *oidc.Provider
	failedAt   time.Time
	failure    error
	discovered func() // after a discovery succeeds (the CSP may change)
}

// rediscoverAfter is how long a failed discovery is remembered before the
// next sign-in tries again.
const rediscoverAfter = 10 * time.Second

func newOIDCProvider(cfg ProviderConfig, redirect string, client *http.Client, now func() time.Time) *oidcProvider {
	return &oidcProvider{cfg: cfg, redirect: redirect, client: client, now: now}
}

func (o *oidcProvider) key() string   { return o.cfg.Key }
func (o *oidcProvider) label() string { return o.cfg.Label }

func (o *oidcProvider) origins() []string {
	out := []string{originOf(o.cfg.Issuer)}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.disc != nil {
		if auth := originOf(o.disc.Endpoint().AuthURL); auth != "" && auth != out[0] {
			out = append(out, auth)
		}
	}
	return out
}

// discover returns the provider's metadata, fetching it on first use.
func (o *oidcProvider) discover(ctx context.Context) (*oidc.Provider, error) {
	p, fresh, err := o.discoverLocked(ctx)
	if fresh && o.discovered != nil {
		o.discovered() // outside the lock: it asks for origins()
	}
	return p, err
}

func (o *oidcProvider) discoverLocked(ctx context.Context) (*oidc.Provider, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.disc != nil {
		return o.disc, false, nil
	}
	if !o.failedAt.IsZero() && time.Since(o.failedAt) < rediscoverAfter {
		return nil, false, &providerDown{label: o.cfg.Label, err: o.failure}
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.cfg.Issuer)
	if err != nil {
		o.failedAt, o.failure = time.Now(), err
		return nil, false, &providerDown{label: o.cfg.Label, err: err}
	}
	o.disc = p
	return p, true, nil
}

func (o *oidcProvider) oauth2(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: o.redirect, Scopes: o.cfg.Scopes}
}

func (o *oidcProvider) authCodeURL(ctx context.Context, r authRequest) (string, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(r.verifier), oidc.Nonce(r.nonce)}
	if r.fresh {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return o.oauth2(p).AuthCodeURL(r.state, opts...), nil
}

// oidcClaims are the claims sessiond reads, from the ID token and, for
// what it lacks, the UserInfo endpoint.
type oidcClaims struct {
	Email         string          `json:"email"`
	EmailVerified flexBool        `json:"email_verified"`
	Name          string          `json:"name"`
	Username      string          `json:"preferred_username"`
	Groups        json.RawMessage `json:"groups"`
	SID           string          `json:"sid"`
	AZP           string          `json:"azp"`
	AuthTime      int64           `json:"auth_time"`
}

func (o *oidcProvider) identify(ctx context.Context, code string, r authRequest) (identity, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return identity{}, err
	}
	ctx = context.WithValue(oidc.ClientContext(ctx, o.client), oauth2.HTTPClient, o.client)
	tok, err := o.oauth2(p).Exchange(ctx, code, oauth2.VerifierOption(r.verifier))
	if err != nil {
		return identity{}, exchangeError(o.cfg.Label, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return identity{}, refused(o.cfg.Label, "the token response has no ID token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.now}).Verify(ctx, raw)
	if err != nil {
		return identity{}, refused(o.cfg.Label, "ID token: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(r.nonce)) != 1 {
		return identity{}, refused(o.cfg.Label, "ID token: nonce does not match this sign-in")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return identity{}, refused(o.cfg.Label, "ID token: %v", err)
		}
	}
	var cl oidcClaims
	if err := idt.Claims(&cl); err != nil {
		return identity{}, refused(o.cfg.Label, "ID token claims: %v", err)
	}
	if len(idt.Audience) > 1 && cl.AZP != o.cfg.ClientID {
		return identity{}, refused(o.cfg.Label, "ID token: issued to %q, not to sessiond", cl.AZP)
	}
	if r.fresh && cl.AuthTime != 0 && o.now().Sub(time.Unix(cl.AuthTime, 0)) > 5*time.Minute {
		return identity{}, refused(o.cfg.Label, "the provider did not ask for the password again (auth_time is old)")
	}
	if cl.Email == "" || cl.Name == "" || (o.cfg.AdminGroup != "" && len(cl.Groups) == 0) {
		if err := o.userInfo(ctx, p, tok, idt.Subject, &cl); err != nil {
			return identity{}, err
		}
	}
	id := identity{subject: idt.Subject, email: models.NormalizeEmail(cl.Email), emailVerified: bool(cl.EmailVerified),
		name: cl.Name, groups: stringList(cl.Groups), sid: cl.SID}
	if id.name == "" {
		id.name = cl.Username
	}
	return id, nil
}

// userInfo fills what the ID token left out from the UserInfo endpoint,
// which must speak of the same subject; a provider without one is fine.
func (o *oidcProvider) userInfo(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, subject string, cl *oidcClaims) error {
	if p.UserInfoEndpoint() == "" {
		return nil
	}
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return &providerDown{label: o.cfg.Label, err: err}
	}
	if ui.Subject != subject {
		return refused(o.cfg.Label, "UserInfo names subject %q, the ID token %q", ui.Subject, subject)
	}
	var more oidcClaims
	if err := ui.Claims(&more); err != nil {
		return refused(o.cfg.Label, "UserInfo claims: %v", err)
	}
	if cl.Email == "" {
		cl.Email, cl.EmailVerified = more.Email, more.EmailVerified
	}
	if cl.Name == "" {
		cl.Name = more.Name
	}
	if cl.Username == "" {
		cl.Username = more.Username
	}
	if len(cl.Groups) == 0 {
		cl.Groups = more.Groups
	}
	return nil
}

// exchangeError: a provider that answered the code exchange with an error
// refused it; one that could not be reached, or failed itself, is down.
func exchangeError(label string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && (re.Response == nil || re.Response.StatusCode < 500) {
		return refused(label, "code exchange: %v", err)
	}
	return &providerDown{label: label, err: err}
}

// flexBool reads a JSON boolean that some providers send as a string.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	v, err := strconv.ParseBool(strings.Trim(string(data), `"`))
	*b = flexBool(err == nil && v)
	return nil
}

// stringList reads a claim that is a list of strings or one string.
func stringList(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var one string
	if json.Unmarshal(raw, &one) == nil && one != "" {
		return []string{one}
	}
	return nil
}
