package app

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ProviderConfig is one OpenID Connect provider (OIDC_<NAME>_…).
type ProviderConfig struct {
	Key          string // the name in OIDC_PROVIDERS, lower case; URLs and accounts use it
	Label        string // the button's words: "Sign in with <Label>"
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	AdminGroup   string // members (groups claim) are admins, others users; "" leaves roles alone
}

// GitHubConfig is sign-in with GitHub (OAuth 2), or GitHub Enterprise.
type GitHubConfig struct {
	ClientID     string
	ClientSecret string
	WebURL       string // where people sign in: https://github.com
	APIURL       string // the REST API: https://api.github.com, or <WebURL>/api/v3
}

// Who may get an account (SIGNUP).
const (
	signupOff       = "off"       // only people who already have one
	signupProviders = "providers" // also anyone a provider vouches for
	signupAll       = "all"       // also anyone, with a password
)

// githubKey is GitHub's provider name, in URLs and accounts.
const githubKey = "github"

// loadProviders reads the sign-in providers and the rules for who gets an
// account. get and secret are LoadConfig's readers; problems go to errs.
func (c *Config) loadProviders(get func(name, def string) string, secret func(name string) string, errs *[]error) {
	fail := func(format string, args ...any) { *errs = append(*errs, fmt.Errorf(format, args...)) }
	c.Signup = strings.ToLower(get("SIGNUP", signupOff))
	switch c.Signup {
	case signupOff, signupProviders, signupAll:
	default:
		fail("SIGNUP=%q: want off, providers or all", c.Signup)
	}
	switch v := strings.ToLower(get("OIDC_LINK_BY_EMAIL", "false")); v {
	case "true", "1", "yes":
		c.LinkByEmail = true
	case "false", "0", "no":
	default:
		fail("OIDC_LINK_BY_EMAIL=%q: want true or false", v)
	}
	for _, d := range splitList(get("OIDC_ALLOWED_DOMAINS", "")) {
		d = strings.ToLower(strings.TrimPrefix(d, "@"))
		if !validDomain(d) {
			fail("OIDC_ALLOWED_DOMAINS: %q is not a domain such as example.com", d)
			continue
		}
		c.AllowedDomains = append(c.AllowedDomains, d)
	}
	seen := map[string]bool{}
	for _, key := range splitList(get("OIDC_PROVIDERS", "")) {
		key = strings.ToLower(key)
		switch {
		case !validProviderKey(key):
			fail("OIDC_PROVIDERS: %q: want a name of letters and digits (at most 32), starting with a letter", key)
			continue
		case key == githubKey:
			fail("OIDC_PROVIDERS: github is configured with GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET")
			continue
		case seen[key]:
			fail("OIDC_PROVIDERS: %q is listed twice", key)
			continue
		}
		seen[key] = true
		c.Providers = append(c.Providers, loadOIDCProvider(key, get, secret, fail))
	}
	if id, sec := get("GITHUB_CLIENT_ID", ""), secret("GITHUB_CLIENT_SECRET"); id != "" || sec != "" {
		c.GitHub = loadGitHub(id, sec, get, fail)
	}
	if (len(c.Providers) > 0 || c.GitHub != nil) && c.BaseURL == nil {
		fail("BASE_URL is required with sign-in providers: their redirect URI is BASE_URL/login/provider/<name>/callback")
	}
	c.SessionCookieName = get("SESSION_COOKIE_NAME", "")
	if err := c.checkCookieName(); err != nil {
		*errs = append(*errs, err)
	}
}

func loadOIDCProvider(key string, get func(string, string) string, secret func(string) string, fail func(string, ...any)) ProviderConfig {
	env := "OIDC_" + strings.ToUpper(key) + "_"
	p := ProviderConfig{
		Key: key, Label: get(env+"NAME", strings.ToUpper(key[:1])+key[1:]), Issuer: strings.TrimRight(get(env+"ISSUER", ""), "/"),
		ClientID: get(env+"CLIENT_ID", ""), ClientSecret: secret(env + "CLIENT_SECRET"), AdminGroup: get(env+"ADMIN_GROUP", ""),
		Scopes: strings.Fields(strings.ReplaceAll(get(env+"SCOPES", "openid email profile"), ",", " ")),
	}
	if err := checkProviderURL(p.Issuer); err != nil {
		fail("%sISSUER=%q: %v", env, p.Issuer, err)
	}
	if p.ClientID == "" {
		fail("%sCLIENT_ID: required (the client id the provider gave sessiond)", env)
	}
	if p.ClientSecret == "" {
		fail("%sCLIENT_SECRET (or %sCLIENT_SECRET_FILE): required", env, env)
	}
	if len(p.Label) > 64 {
		fail("%sNAME: at most 64 characters", env)
	}
	hasOpenID := false
	for _, s := range p.Scopes {
		hasOpenID = hasOpenID || s == "openid"
	}
	if !hasOpenID {
		p.Scopes = append([]string{"openid"}, p.Scopes...)
	}
	return p
}

func loadGitHub(id, sec string, get func(string, string) string, fail func(string, ...any)) *GitHubConfig {
	g := &GitHubConfig{ClientID: id, ClientSecret: sec, WebURL: strings.TrimRight(get("GITHUB_URL", "https://github.com"), "/")}
	if id == "" || sec == "" {
		fail("GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (or GITHUB_CLIENT_SECRET_FILE) go together: set both")
	}
	if err := checkProviderURL(g.WebURL); err != nil {
		fail("GITHUB_URL=%q: %v", g.WebURL, err)
	}
	def := g.WebURL + "/api/v3" // GitHub Enterprise Server
	if g.WebURL == "https://github.com" {
		def = "https://api.github.com"
	}
	g.APIURL = strings.TrimRight(get("GITHUB_API_URL", def), "/")
	if err := checkProviderURL(g.APIURL); err != nil {
		fail("GITHUB_API_URL=%q: %v", g.APIURL, err)
	}
	return g
}

// checkProviderURL wants https, or http on a loopback host (a provider on
// the same machine, as in tests); no query or fragment.
func checkProviderURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("required")
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("want https://host[/path]")
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	case u.Scheme != "https":
		return errors.New("want https (plain http only on a loopback host)")
	}
	return nil
}

// checkCookieName: a cookie name (RFC 6265 token) whose prefix the
// browser will honour with these settings.
func (c *Config) checkCookieName() error {
	n := c.SessionCookieName
	if n == "" {
		return nil
	}
	if strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~") != "" || len(n) > 64 {
		return fmt.Errorf("SESSION_COOKIE_NAME=%q: want a cookie name (letters, digits, . _ -), such as authjs.session-token", n)
	}
	switch {
	case (strings.HasPrefix(n, prefixSecure) || strings.HasPrefix(n, prefixHost)) && !c.Secure():
		return fmt.Errorf("SESSION_COOKIE_NAME=%q: browsers keep %s… cookies only over https (set an https BASE_URL)", n, n[:strings.Index(n, "-")+1])
	case strings.HasPrefix(n, prefixHost) && c.CookieDomain != "":
		return fmt.Errorf("SESSION_COOKIE_NAME=%q: a __Host- cookie cannot have COOKIE_DOMAIN; use __Secure-", n)
	}
	return nil
}

func splitList(raw string) []string {
	var out []string
	for _, v := range strings.Split(raw, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func validProviderKey(k string) bool {
	if k == "" || len(k) > 32 || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	return strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

func validDomain(d string) bool {
	return d != "" && len(d) <= 253 && strings.Contains(d, ".") && net.ParseIP(d) == nil &&
		strings.Trim(d, "abcdefghijklmnopqrstuvwxyz0123456789.-") == "" && !strings.HasPrefix(d, ".") && !strings.HasSuffix(d, ".")
}

// emailDomainAllowed reports whether OIDC_ALLOWED_DOMAINS lets this email
// in (any email when the list is empty).
func (c *Config) emailDomainAllowed(email string) bool {
	if len(c.AllowedDomains) == 0 {
		return true
	}
	_, domain, ok := strings.Cut(email, "@")
	for _, d := range c.AllowedDomains {
		if ok && strings.EqualFold(domain, d) {
			return true
		}
	}
	return false
}
