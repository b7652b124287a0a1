package app

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sessiond/models/testdb"
)

// TestLoadConfig_Providers_EveryProblemAtOnce: each broken provider
// setting is named, in one error.
func TestLoadConfig_Providers_EveryProblemAtOnce(t *testing.T) {
	env := map[string]string{
		"OIDC_PROVIDERS": "corp,Bad-Name,github,corp,acme", "OIDC_CORP_ISSUER": "http://idp.example.com",
		"OIDC_ACME_ISSUER": "https://acme.example/?x=1", "OIDC_ACME_CLIENT_ID": "id", "OIDC_ACME_CLIENT_SECRET": "s",
		"SIGNUP": "everyone", "OIDC_LINK_BY_EMAIL": "maybe", "OIDC_ALLOWED_DOMAINS": "example.com, not a domain",
		"GITHUB_CLIENT_ID": "gh", "SESSION_COOKIE_NAME": "__Secure-authjs.session-token",
	}
	_, err := LoadConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("a broken provider configuration loaded")
	}
	for _, want := range []string{
		`OIDC_CORP_ISSUER="http://idp.example.com": want https`, "OIDC_CORP_CLIENT_ID: required", "OIDC_CORP_CLIENT_SECRET",
		`"bad-name"`, "github is configured with GITHUB_CLIENT_ID", `"corp" is listed twice`, `OIDC_ACME_ISSUER`,
		`SIGNUP="everyone"`, `OIDC_LINK_BY_EMAIL="maybe"`, `"not a domain"`, "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET",
		"BASE_URL is required with sign-in providers", "only over https",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// TestLoadConfig_Providers_Defaults: a secret from a file, the label and
// scopes defaulted, openid added, GitHub Enterprise's API under /api/v3.
func TestLoadConfig_Providers_Defaults(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"BASE_URL": "https://login.example.com", "OIDC_PROVIDERS": "Corp", "OIDC_CORP_ISSUER": "https://idp.example.com/realms/x/",
		"OIDC_CORP_CLIENT_ID": "id", "OIDC_CORP_CLIENT_SECRET_FILE": secret, "OIDC_CORP_SCOPES": "email,groups",
		"GITHUB_CLIENT_ID": "gh", "GITHUB_CLIENT_SECRET": "ghs", "GITHUB_URL": "https://git.example.com/",
		"OIDC_ALLOWED_DOMAINS": "@Example.com", "SESSION_COOKIE_NAME": "__Secure-authjs.session-token",
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Providers[0]
	if p.Key != "corp" || p.Label != "Corp" || p.ClientSecret != "s3cret" || p.Issuer != "https://idp.example.com/realms/x" ||
		strings.Join(p.Scopes, " ") != "openid email groups" {
		t.Fatalf("provider: %+v", p)
	}
	if cfg.GitHub.APIURL != "https://git.example.com/api/v3" || cfg.Signup != signupOff || cfg.LinkByEmail {
		t.Fatalf("github %+v signup %q link %v", cfg.GitHub, cfg.Signup, cfg.LinkByEmail)
	}
	if !cfg.emailDomainAllowed("a@example.com") || cfg.emailDomainAllowed("a@sub.example.com") || cfg.emailDomainAllowed("a@evil.com") {
		t.Fatal("allowed domains")
	}
	if cfg.CookieName() != "__Secure-authjs.session-token" {
		t.Fatalf("cookie name %q", cfg.CookieName())
	}
	if got := callbackURL(&cfg, "corp"); got != "https://login.example.com/login/provider/corp/callback" {
		t.Fatalf("callback %q", got)
	}
}

// TestCLI_Doctor_DiscoversProviders: a provider that answers discovery is
// reported with the URIs to register; one that does not is a problem.
func TestCLI_Doctor_DiscoversProviders(t *testing.T) {
	o := newTestOP(t, corpCallback)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	env := o.env("corp", map[string]string{"DATABASE_URL": testdb.SQLiteURL(t)})
	if _, err := runCLI(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, env, "", "doctor")
	if err != nil || !strings.Contains(out, "sign-in provider corp discovered") || !strings.Contains(out, "/login/provider/corp/backchannel-logout") {
		t.Fatalf("doctor with a live provider: %v\n%s", err, out)
	}
	env["OIDC_CORP_ISSUER"] = dead
	out, err = runCLI(t, env, "", "doctor")
	if err == nil || !strings.Contains(out, "error sign-in provider corp: discovery from "+dead+" failed") {
		t.Fatalf("doctor with a dead provider: %v\n%s", err, out)
	}
}
