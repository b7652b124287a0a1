package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// Sign-in providers: OpenID Connect providers (provider_oidc.go) and
// GitHub (provider_github.go). Each sends the browser to its sign-in page
// and, when it comes back with a code, says who signed in; what sessiond
// then does (sign in, link, step up) is provider_signin.go's.

// identity is who a provider says signed in.
type identity struct {
	subject       string // the provider's id for them: accounts are keyed by it
	email         string // normalised; "" when the provider gave none
	emailVerified bool
	name          string
	groups        []string
	sid           string // the provider's session id (OpenID Connect sid), for back-channel logout
}

// authRequest is what one round trip to a provider is bound by: state and
// nonce come back and are compared, the PKCE verifier proves the code was
// asked for here. fresh asks the provider to authenticate again even when
// it remembers the user (a step-up).
type authRequest struct {
	state, nonce, verifier string
	fresh                  bool
}

type provider interface {
	key() string   // the name in URLs and accounts
	label() string // "Sign in with <label>"
	// origins are where the browser is sent to sign in, for the pages'
	// form-action: browsers apply it to the redirects after a form post.
	origins() []string
	authCodeURL(ctx context.Context, r authRequest) (string, error)
	identify(ctx context.Context, code string, r authRequest) (identity, error)
}

// errProviderDown: the provider could not be reached (or discovered); the
// user may retry. A *providerRefusal is an answer that does not verify.
type providerDown struct {
	label string
	err   error
}

func (e *providerDown) Error() string { return e.label + " cannot be reached: " + e.err.Error() }
func (e *providerDown) Unwrap() error { return e.err }

type providerRefusal struct {
	label  string
	reason string
}

func (e *providerRefusal) Error() string { return e.label + ": " + e.reason }

func refused(label, format string, args ...any) error {
	return &providerRefusal{label: label, reason: fmt.Sprintf(format, args...)}
}

// providerError is what the user is told about a failed round trip; the
// reason itself goes to the log, not the page.
func providerError(label string, err error) error {
	var down *providerDown
	var no *providerRefusal
	switch {
	case errors.As(err, &down):
		return fiber.NewError(fiber.StatusServiceUnavailable, label+" cannot be reached right now: try again in a moment")
	case errors.As(err, &no):
		return fiber.NewError(fiber.StatusUnauthorized, "the sign-in with "+label+" could not be verified: start again")
	}
	return err
}

// newProviders builds the configured providers, GitHub last.
// discovered runs after an OpenID Connect provider's discovery succeeds.
func newProviders(cfg *Config, now func() time.Time, discovered func()) []provider {
	client := &http.Client{Timeout: 10 * time.Second}
	var out []provider
	for _, p := range cfg.Providers {
		o := newOIDCProvider(p, callbackURL(cfg, p.Key), client, now)
		o.discovered = discovered
		out = append(out, o)
	}
	if cfg.GitHub != nil {
		out = append(out, &githubProvider{cfg: *cfg.GitHub, redirect: callbackURL(cfg, githubKey), client: client})
	}
	return out
}

// callbackURL is where a provider sends the browser back: the redirect
// URI to register with it.
func callbackURL(cfg *Config, key string) string {
	return cfg.BaseURL.String() + "/login/provider/" + key + "/callback"
}

// discoverProviders fetches every OpenID Connect provider's metadata at
// start, so the first sign-in does not wait for it. One that is down is
// only logged: discovery is tried again at the next sign-in.
func (s *Server) discoverProviders(ctx context.Context) {
	for _, p := range s.providers {
		o, ok := p.(*oidcProvider)
		if !ok {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if _, err := o.discover(dctx); err != nil {
			s.log.Warn("sign-in provider discovery failed; will retry at the next sign-in", "provider", o.key(), "error", err)
		} else {
			s.log.Info("sign-in provider discovered", "provider", o.key(), "issuer", o.cfg.Issuer)
		}
		cancel()
	}
}

// provider is the configured provider named in the URL, or 404.
func (s *Server) provider(c *fiber.Ctx) (provider, error) {
	name := c.Params("name")
	for _, p := range s.providers {
		if p.key() == name {
			return p, nil
		}
	}
	return nil, fiber.NewError(fiber.StatusNotFound, "no sign-in provider is called "+clip(name, 64))
}

// providerOrigins is where any provider's sign-in page may be.
func (s *Server) providerOrigins() []string {
	var out []string
	for _, p := range s.providers {
		out = append(out, p.origins()...)
	}
	return out
}

// originOf is scheme://host[:port] of a URL; "" when it has none.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || strings.ContainsAny(u.Host, " ;,'") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// providerView is a provider's button.
type providerView struct {
	Key   string
	Label string
}

func (s *Server) providerViews() []providerView {
	out := make([]providerView, 0, len(s.providers))
	for _, p := range s.providers {
		out = append(out, providerView{Key: p.key(), Label: p.label()})
	}
	return out
}

func (s *Server) providerLabel(key string) string {
	for _, p := range s.providers {
		if p.key() == key {
			return p.label()
		}
	}
	if key == models.AuthJSProvider {
		return "Auth.js (imported)"
	}
	return key
}
