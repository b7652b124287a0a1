package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"sessiond/jobs"
)

// Config is everything sessiond reads from its environment, validated once
// at start; nothing reads the environment afterwards.
type Config struct {
	DatabaseURL            string
	ListenAddr             string
	BaseURL                *url.URL // nil when unset
	AuthSecret             string   // empty: generated and stored in the DB
	SessionMaxAge          time.Duration
	SessionUpdateAge       time.Duration
	SessionAbsolute        time.Duration
	SessionTouchInterval   time.Duration
	SessionCacheTTL        time.Duration
	SessionCacheMaxEntries int
	CleanupSchedule        string // "off" disables
	CleanupBatchSize       int
	AuditRetention         time.Duration
	CookieDomain           string
	LogLevel               slog.Level
	LogFormat              string
	AuditLog               string // "json": every audit event also as a JSON line on standard output
	TrustedProxies         []string
	AccessRules            string // the YAML rules file for forward-auth; "" for none
	MetricsToken           string
	SMTP                   *jobs.SMTP // nil: no mail server; messages go to the log
	MailFrom               string
	GeoIPDB                string        // path to a MaxMind-format City database; "" for none
	Require2FA             string        // off, admins or all: who must have a second factor
	SudoWindow             time.Duration // how long a strong proof allows dangerous actions
	// RequireEmailVerification refuses sign-in until the user's email is confirmed by a link.
	RequireEmailVerification bool

	// Sign-in providers and who gets an account (config_providers.go).
	Providers         []ProviderConfig
	GitHub            *GitHubConfig // nil: no GitHub sign-in
	LinkByEmail       bool          // a provider's verified email may link to the user who has it
	AllowedDomains    []string      // only emails in these domains may sign up or link by email
	Signup            string        // off, providers or all
	SessionCookieName string        // "": sessiond's own name (see CookieName)
}

// Second-factor policies (REQUIRE_2FA).
const (
	require2FAOff    = "off"
	require2FAAdmins = "admins"
	require2FAAll    = "all"
)

// Requires2FA reports whether the policy makes this user have a second factor.
func (c *Config) Requires2FA(role string) bool {
	return c.Require2FA == require2FAAll || c.Require2FA == require2FAAdmins && role == "admin"
}

// Secure reports whether sessiond is served over https (BASE_URL), which
// makes cookies Secure and __Host-/__Secure- prefixed.
//
// Config's methods take a pointer: the session middleware asks for the
// cookie's name on every request, and a Config is large to copy.
func (c *Config) Secure() bool { return c.BaseURL != nil && c.BaseURL.Scheme == "https" }

// PublicURL is where links sent to people point: BASE_URL, else the
// listen address.
func (c *Config) PublicURL() string {
	if c.BaseURL != nil {
		return c.BaseURL.String()
	}
	return "http://" + c.ListenAddr
}

// CookieName is the session cookie's name: other programs rely on it.
// SESSION_COOKIE_NAME replaces it (taking over another system's cookie).
func (c *Config) CookieName() string {
	if c.SessionCookieName != "" {
		return c.SessionCookieName
	}
	return c.prefixed(sessionCookie, prefixSecure+sessionCookie, prefixHost+sessionCookie)
}

// PendingCookieName holds the token of a sign-in under way (a second step).
func (c *Config) PendingCookieName() string {
	return c.prefixed(pendingCookie, prefixSecure+pendingCookie, prefixHost+pendingCookie)
}

// CSRFCookieName holds the pre-login CSRF nonce.
func (c *Config) CSRFCookieName() string {
	return c.prefixed(csrfCookie, prefixSecure+csrfCookie, prefixHost+csrfCookie)
}

const (
	sessionCookie = "sessiond_session"
	csrfCookie    = "sessiond_csrf"
	pendingCookie = "sessiond_pending"
	prefixSecure  = "__Secure-"
	prefixHost    = "__Host-"
)

// prefixed picks the cookie name for how sessiond is served: plain over
// http, __Secure- with a COOKIE_DOMAIN (__Host- forbids a Domain
// attribute), else __Host-. Each name is a constant, so no request
// allocates one.
func (c *Config) prefixed(plain, secure, host string) string {
	switch {
	case !c.Secure():
		return plain
	case c.CookieDomain != "":
		return secure
	default:
		return host
	}
}

// settingNames lists every variable, for the README and doctor.
var settingNames = []string{
	"DATABASE_URL", "LISTEN_ADDR", "BASE_URL", "AUTH_SECRET", "SESSION_MAX_AGE", "SESSION_UPDATE_AGE",
	"SESSION_ABSOLUTE_LIFETIME", "SESSION_TOUCH_INTERVAL", "SESSION_CACHE_TTL", "SESSION_CACHE_MAX_ENTRIES",
	"CLEANUP_SCHEDULE", "CLEANUP_BATCH_SIZE", "AUDIT_RETENTION", "COOKIE_DOMAIN", "LOG_LEVEL", "LOG_FORMAT", "AUDIT_LOG",
	"TRUSTED_PROXIES", "METRICS_TOKEN", "REQUIRE_2FA", "SUDO_WINDOW", "SMTP_URL", "MAIL_FROM", "GEOIP_DB", "REQUIRE_EMAIL_VERIFICATION",
	"OIDC_PROVIDERS", "OIDC_LINK_BY_EMAIL", "OIDC_ALLOWED_DOMAINS", "SIGNUP",
	"GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "GITHUB_URL", "GITHUB_API_URL", "SESSION_COOKIE_NAME",
	"ACCESS_RULES",
}

// LoadConfig reads and validates the configuration, reporting every problem
// at once. Every variable may come from NAME_FILE instead of NAME (see
// fromFiles).
func LoadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	getenv = fromFiles(getenv, &errs)
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	secret := func(name string) string { return get(name, "") }
	dur := func(name, def string, min time.Duration) time.Duration {
		raw := get(name, def)
		d, err := parseDuration(raw)
		if err != nil || d < min {
			errs = append(errs, fmt.Errorf("%s=%q: want a duration ≥ %s such as 30d, 24h or 5m", name, raw, min))
		}
		return d
	}
	integer := func(name, def string, min, max int) int {
		raw := get(name, def)
		n, err := strconv.Atoi(raw)
		if err != nil || n < min || n > max {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, raw, min, max))
		}
		return n
	}

	c := Config{
		DatabaseURL:            get("DATABASE_URL", "sqlite:data/sessiond.db"),
		ListenAddr:             get("LISTEN_ADDR", "127.0.0.1:8080"),
		AuthSecret:             secret("AUTH_SECRET"),
		SessionMaxAge:          dur("SESSION_MAX_AGE", "30d", time.Minute),
		SessionUpdateAge:       dur("SESSION_UPDATE_AGE", "24h", 0),
		SessionAbsolute:        dur("SESSION_ABSOLUTE_LIFETIME", "0", 0),
		SessionTouchInterval:   dur("SESSION_TOUCH_INTERVAL", "5m", 0),
		SessionCacheTTL:        dur("SESSION_CACHE_TTL", "10m", 0),
		SessionCacheMaxEntries: integer("SESSION_CACHE_MAX_ENTRIES", "250000", 1, 10_000_000),
		CleanupSchedule:        get("CLEANUP_SCHEDULE", "@hourly"),
		CleanupBatchSize:       integer("CLEANUP_BATCH_SIZE", "10000", 1, 1_000_000),
		AuditRetention:         dur("AUDIT_RETENTION", "90d", 0),
		CookieDomain:           strings.TrimPrefix(get("COOKIE_DOMAIN", ""), "."),
		LogFormat:              get("LOG_FORMAT", "text"),
		AuditLog:               get("AUDIT_LOG", ""),
		MetricsToken:           secret("METRICS_TOKEN"),
		Require2FA:             strings.ToLower(get("REQUIRE_2FA", require2FAOff)),
		SudoWindow:             dur("SUDO_WINDOW", "10m", time.Minute),
	}
	switch c.Require2FA {
	case require2FAOff, require2FAAdmins, require2FAAll:
	default:
		errs = append(errs, fmt.Errorf("REQUIRE_2FA=%q: want off, admins or all", c.Require2FA))
	}
	if c.SudoWindow > 24*time.Hour {
		errs = append(errs, fmt.Errorf("SUDO_WINDOW=%s: want at most 24h", c.SudoWindow))
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "file:") &&
		!strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("DATABASE_URL: want sqlite:PATH or postgres://…"))
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("LISTEN_ADDR=%q: want host:port", c.ListenAddr))
	}
	if raw := get("BASE_URL", ""); raw != "" {
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("BASE_URL=%q: want http(s)://host[:port] without a path", raw))
		} else {
			u.Path = ""
			c.BaseURL = u
		}
	}
	if c.AuthSecret != "" && len(c.AuthSecret) < 32 {
		errs = append(errs, errors.New("AUTH_SECRET: want at least 32 characters (e.g. openssl rand -base64 32)"))
	}
	if c.SessionUpdateAge > c.SessionMaxAge {
		errs = append(errs, errors.New("SESSION_UPDATE_AGE must not exceed SESSION_MAX_AGE"))
	}
	if c.CleanupSchedule != "off" {
		if _, err := cron.ParseStandard(c.CleanupSchedule); err != nil {
			errs = append(errs, fmt.Errorf("CLEANUP_SCHEDULE=%q: %v (cron syntax, @hourly, or off)", c.CleanupSchedule, err))
		}
	}
	if c.CookieDomain != "" {
		if strings.ContainsAny(c.CookieDomain, "/:; ") || !strings.Contains(c.CookieDomain, ".") {
			errs = append(errs, fmt.Errorf("COOKIE_DOMAIN=%q: want a domain such as example.com", c.CookieDomain))
		} else if c.BaseURL != nil && !hostWithin(c.BaseURL.Hostname(), c.CookieDomain) {
			errs = append(errs, fmt.Errorf("COOKIE_DOMAIN=%q does not cover BASE_URL's host %q", c.CookieDomain, c.BaseURL.Hostname()))
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: want debug, info, warn or error"))
	}
	if c.AuditLog != "" && c.AuditLog != "json" {
		errs = append(errs, fmt.Errorf("AUDIT_LOG=%q: want json, or leave it unset", c.AuditLog))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q: want text or json", c.LogFormat))
	}
	c.loadProviders(get, secret, &errs)
	if raw := get("TRUSTED_PROXIES", ""); raw != "" {
		for _, p := range strings.Split(raw, ",") {
			p = strings.TrimSpace(p)
			if net.ParseIP(p) == nil {
				if _, _, err := net.ParseCIDR(p); err != nil {
					errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP or CIDR", p))
					continue
				}
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	// Rules judge the URL a proxy asks about, believed only from a trusted
	// proxy: without one every rule would see nothing to judge.
	if c.AccessRules = get("ACCESS_RULES", ""); c.AccessRules != "" && len(c.TrustedProxies) == 0 {
		errs = append(errs, errors.New("ACCESS_RULES needs TRUSTED_PROXIES: the URL a proxy asks about is believed only from the addresses it names"))
	}
	switch v := strings.ToLower(get("REQUIRE_EMAIL_VERIFICATION", "false")); v {
	case "true", "1", "yes":
		c.RequireEmailVerification = true
	case "false", "0", "no":
	default:
		errs = append(errs, fmt.Errorf("REQUIRE_EMAIL_VERIFICATION=%q: want true or false", v))
	}
	c.GeoIPDB = get("GEOIP_DB", "")
	c.MailFrom = get("MAIL_FROM", "")
	if raw := secret("SMTP_URL"); raw != "" {
		smtp, err := jobs.ParseSMTPURL(strings.TrimSpace(raw), c.MailFrom)
		if err != nil {
			errs = append(errs, fmt.Errorf("SMTP_URL: %w", err))
		}
		c.SMTP = smtp
	} else if c.MailFrom != "" {
		errs = append(errs, errors.New("MAIL_FROM is set but SMTP_URL is not: set both to send mail"))
	}
	return c, errors.Join(errs...)
}

// fromFiles wraps getenv so that any variable NAME may be given as
// NAME_FILE, the path of a file holding its value (Docker secrets, systemd
// credentials): one rule for every setting, so DATABASE_URL, SMTP_URL and
// provider secrets never need to sit in the environment. A file is read
// once; NAME and NAME_FILE together, or an unreadable file, is an error.
func fromFiles(getenv func(string) string, errs *[]error) func(string) string {
	read := map[string]string{}
	return func(name string) string {
		path := strings.TrimSpace(getenv(name + "_FILE"))
		if path == "" {
			return getenv(name)
		}
		if v, ok := read[name]; ok {
			return v
		}
		read[name] = ""
		if getenv(name) != "" {
			*errs = append(*errs, fmt.Errorf("%s and %s_FILE are both set: give one", name, name))
			return ""
		}
		b, err := os.ReadFile(path)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s_FILE: %w", name, err))
			return ""
		}
		read[name] = strings.TrimSpace(string(b))
		return read[name]
	}
}

// parseDuration accepts Go durations plus a "d" suffix for days; "0" is 0.
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// hostWithin reports whether host is domain or a subdomain of it.
func hostWithin(host, domain string) bool {
	host, domain = strings.ToLower(host), strings.ToLower(domain)
	return host == domain || strings.HasSuffix(host, "."+domain)
}
