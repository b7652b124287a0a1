package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"sessiond/models"
)

// runDoctor checks the settings, the database and risky combinations, and
// prints one line per finding. It fails when anything is an error.
func runDoctor(ctx context.Context, env Env) error {
	var problems, warnings []string
	ok := func(format string, args ...any) { fmt.Fprintf(env.Stdout, "ok    "+format+"\n", args...) }
	cfg, err := LoadConfig(env.Getenv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			problems = append(problems, line)
		}
	} else {
		ok("settings are valid")
		if cfg.GeoIPDB != "" {
			if g, err := openGeoIP(cfg.GeoIPDB); err != nil {
				problems = append(problems, err.Error()+" (the server runs without locations)")
			} else {
				g.Close()
				ok("GEOIP_DB is readable")
			}
		}
		if cfg.AccessRules != "" {
			if rules, err := loadAccessRules(cfg.AccessRules, time.Now()); err != nil {
				problems = append(problems, strings.Split(err.Error(), "\n")...)
			} else {
				ok("ACCESS_RULES: %d rule(s), default %s", len(rules.Rules), rules.Default)
			}
		}
		if cfg.SMTP != nil {
			ok("mail goes through %s", cfg.SMTP.Addr())
		} else {
			warnings = append(warnings, "SMTP_URL is unset: password-reset and other mail is written to the log instead of sent")
		}
		warnings = append(warnings, riskyCombinations(cfg)...)
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		problems = append(problems, checkProviders(ctx, &cfg, ok)...)
		if db, err := models.Open(ctx, cfg.DatabaseURL); err != nil {
			problems = append(problems, "database: "+err.Error())
		} else {
			defer db.Close()
			ok("database reachable (%s)", db.Kind)
			pending, err := models.PendingMigrations(ctx, db)
			switch {
			case err != nil:
				problems = append(problems, "migrations: "+err.Error())
			case len(pending) > 0:
				problems = append(problems, "migrations not applied: "+strings.Join(pending, ", ")+" (run sessiond migrate)")
			default:
				ok("database migrated")
				if n, err := models.CountAdmins(ctx, db); err == nil && n == 0 {
					warnings = append(warnings, "no admin exists: start the server for a setup link, or run sessiond users create --role admin")
				}
			}
		}
	}
	for _, w := range warnings {
		fmt.Fprintln(env.Stdout, "warn  "+w)
	}
	for _, p := range problems {
		fmt.Fprintln(env.Stdout, "error "+p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("doctor found %d problem(s)", len(problems))
	}
	return nil
}

// riskyCombinations are settings that work but are probably a mistake.
func riskyCombinations(cfg Config) []string {
	var w []string
	if cfg.BaseURL == nil {
		w = append(w, "BASE_URL is unset: cookies are not Secure and forward-auth redirects cannot leave this host; set it to the public URL")
	}
	if cfg.Secure() && cfg.AuthSecret == "" {
		w = append(w, "BASE_URL is https but AUTH_SECRET is unset: a generated secret is kept in the database; set AUTH_SECRET to keep it out of backups")
	}
	if cfg.BaseURL != nil && cfg.BaseURL.Scheme == "http" && !isLoopback(cfg.BaseURL.Hostname()) {
		w = append(w, "BASE_URL is plain http on a non-local host: session cookies travel unencrypted and cannot be Secure")
	}
	if cfg.CookieDomain != "" && !cfg.Secure() {
		w = append(w, "COOKIE_DOMAIN is set without an https BASE_URL: the shared cookie is not Secure")
	}
	if cfg.RequireEmailVerification && cfg.SMTP == nil {
		w = append(w, "REQUIRE_EMAIL_VERIFICATION without SMTP_URL: confirmation links are only logged; an admin copies each from Admin → Mail before its user can sign in")
	}
	if cfg.CleanupSchedule == "off" {
		w = append(w, "CLEANUP_SCHEDULE=off: expired sessions pile up unless a system cron runs sessiond sessions cleanup")
	}
	if cfg.SessionAbsolute > 0 && cfg.SessionAbsolute < cfg.SessionMaxAge {
		w = append(w, "SESSION_ABSOLUTE_LIFETIME is shorter than SESSION_MAX_AGE: every session ends at the absolute cap")
	}
	if cfg.MetricsToken != "" && len(cfg.MetricsToken) < 16 {
		w = append(w, "METRICS_TOKEN is short: use at least 16 random characters")
	}
	if !strings.HasPrefix(cfg.ListenAddr, "127.") && !strings.HasPrefix(cfg.ListenAddr, "localhost:") && !strings.HasPrefix(cfg.ListenAddr, "[::1]") && len(cfg.TrustedProxies) == 0 {
		w = append(w, "listening beyond loopback without TRUSTED_PROXIES: fine without a proxy; behind one, client IPs will be the proxy's")
	}
	return w
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// checkProviders discovers each OpenID Connect provider as the server
// would; one that cannot be discovered cannot sign anyone in.
func checkProviders(ctx context.Context, cfg *Config, ok func(string, ...any)) []string {
	var problems []string
	for _, p := range newProviders(cfg, time.Now, nil) {
		o, isOIDC := p.(*oidcProvider)
		if !isOIDC {
			ok("sign-in provider %s (GitHub at %s); register the callback %s", p.key(), cfg.GitHub.WebURL, callbackURL(cfg, p.key()))
			continue
		}
		if _, err := o.discover(ctx); err != nil {
			problems = append(problems, fmt.Sprintf("sign-in provider %s: discovery from %s failed: %v", p.key(), o.cfg.Issuer, err))
			continue
		}
		ok("sign-in provider %s discovered at %s; register the callback %s and the back-channel logout URI %s/login/provider/%s/backchannel-logout",
			p.key(), o.cfg.Issuer, callbackURL(cfg, p.key()), cfg.BaseURL, p.key())
	}
	return problems
}
