package app

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// writeRules puts a rules file in a temporary directory.
func writeRules(t testing.TB, yaml string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAccessRules_BadFile_EveryMistakeNamedWithItsLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown policy", "default: signed_in\nrules:\n  - hosts: [a.example.com]\n    policy: alow\n",
			[]string{`line 4: unknown policy "alow" (want deny, signed_in or bypass)`}},
		{"broken regex", "rules:\n  - paths: [\"^/api(\"]\n", []string{`line 2: paths: broken regular expression "^/api(": missing closing )`}},
		{"bad rate", "rules:\n  - hosts: [a.example.com]\n\n    rate: 100/fortnight\n", []string{`line 4: rate: "100/fortnight": want a count`}},
		{"zero rate", "rules:\n  - rate: 0/min\n", []string{`line 2: rate: "0/min"`}},
		{"unknown default", "default: allow\n", []string{`line 1: default: unknown policy "allow"`}},
		{"unknown key", "default: deny\nrule:\n  - hosts: [x]\n", []string{`line 2: unknown key "rule"`}},
		{"unknown rule key", "rules:\n  - host: [x.example.com]\n", []string{`line 2: unknown key "host"`}},
		{"path without slash", "rules:\n  - paths: [admin/*]\n", []string{`line 2: paths: "admin/*": want a path starting with /`}},
		{"host with scheme", "rules:\n  - hosts:\n      - https://a.example.com\n", []string{`line 3: hosts: "https://a.example.com"`}},
		{"method", "rules:\n  - methods: [GET, FETCH]\n", []string{`line 2: methods: "FETCH" is not an HTTP method`}},
		{"bypass with groups", "rules:\n  - hosts: [a.example.com]\n    policy: bypass\n    groups: [ops]\n",
			[]string{`line 2: policy bypass applies to everyone`}},
		{"mfa not bool", "rules:\n  - mfa: sometimes\n", []string{`line 2: mfa: "sometimes" is not true or false`}},
		{"bad group", "rules:\n  - groups: [Ops Team]\n", []string{`line 2: groups: "Ops Team"`}},
		{"yaml syntax", "rules:\n  - hosts: [a\n", []string{"line 1: did not find expected"}},
		{"tab", "rules:\n\t- hosts: [a]\n", []string{"line 2: found character that cannot start any token"}},
		{"every mistake at once", "default: maybe\nrules:\n  - policy: nope\n  - rate: lots\n",
			[]string{"line 1: default", "line 3: unknown policy", "line 4: rate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadAccessRules(writeRules(t, tc.yaml), time.Now())
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestAccessRules_BadFileAtStart_ServerDoesNotStart(t *testing.T) {
	db := testdb.SQLite(t)
	f := writeRules(t, "rules:\n  - hosts: [a.example.com]\n    policy: alow\n")
	cfg := testConfig(t, db, map[string]string{"ACCESS_RULES": f, "TRUSTED_PROXIES": "127.0.0.1"})
	srv, err := New(context.Background(), cfg, db, slog.New(slog.DiscardHandler), Options{})
	if err == nil {
		srv.Close()
		t.Fatal("the server started with a broken rules file")
	}
	if !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), `line 3: unknown policy "alow"`) {
		t.Fatalf("error %q does not name the file, line and reason", err)
	}
	if _, err := LoadConfig(func(k string) string { return map[string]string{"ACCESS_RULES": f}[k] }); err == nil ||
		!strings.Contains(err.Error(), "ACCESS_RULES needs TRUSTED_PROXIES") {
		t.Fatalf("rules without a trusted proxy: %v", err)
	}
}

const matrixRules = `# the matrix test's rules
default: deny
rules:
  - hosts: ["status.example.com"]
    policy: bypass
  - hosts: ["*.example.com"]
    paths: ["/admin/*", "^/api/v[0-9]+/admin"]
    methods: [POST, DELETE]
    roles: [admin]
  - hosts: [app.example.com]
    paths: [/ops/*]
    groups: [ops]
    users: [MFA@example.com]
  - hosts: [secure.example.com]
    mfa: true
  - hosts: [app.example.com, wiki.example.com]
  - hosts: [closed.example.com]
    policy: deny
`

// rulesEnv is forwardEnv with the matrix's rules, trusting app.Test's peer.
func rulesEnv(t testing.TB, rules string) map[string]string {
	env := forwardEnv()
	env["ACCESS_RULES"] = writeRules(t, rules)
	env["TRUSTED_PROXIES"] = "0.0.0.0"
	env["SESSION_CACHE_TTL"] = "0" // the test gives one session a second factor in the database
	return env
}

// The verdicts as the letters of a row: A allowed, S sign in, M second
// factor, F forbidden.
var verdictLetters = map[byte]verdict{'A': verdictAllow, 'S': verdictSignIn, 'M': verdictSecondFactor, 'F': verdictForbidden}

func TestForwardAuth_Rules_Matrix_HostPathMethodByVisitor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, rulesEnv(t, matrixRules))
		visitors := []*client{a.client()} // anonymous
		for _, who := range []struct{ email, role string }{
			{"user@example.com", models.RoleUser}, {"ops@example.com", models.RoleUser},
			{"root@example.com", models.RoleAdmin}, {"mfa@example.com", models.RoleUser},
		} {
			u := testdb.CreateUser(t, db, who.email, who.role)
			c := a.client()
			c.login(u.Email, "password123")
			visitors = append(visitors, c)
		}
		setGroups(t, db, "ops@example.com", "ops", "dev")
		if _, err := db.NewUpdate().Table("sessions").Set("amr = ?", "pwd,otp").
			Where("user_id = (SELECT id FROM users WHERE email = ?)", "mfa@example.com").Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, row := range []struct {
			method, url string
			verdicts    string // anonymous, user, ops member, admin, second factor
		}{
			{"GET", "https://status.example.com/health", "AAAAA"},
			{"POST", "https://status.example.com/admin/x", "AAAAA"}, // the first match wins
			{"POST", "https://app.example.com/admin/users", "SFFAF"},
			{"DELETE", "https://wiki.example.com/api/v2/admin/x?y=1", "SFFAF"},
			{"GET", "https://app.example.com/admin/users", "SAAAA"}, // other methods: the next rule
			{"POST", "https://app.example.com/public/../admin/x", "SFFAF"},
			{"POST", "https://app.example.com/public/%2e%2e/admin/x", "SFFAF"},
			{"GET", "https://app.example.com/ops/deploy", "SFAFA"},
			{"GET", "https://APP.example.com:8443/docs", "SAAAA"},
			{"GET", "https://secure.example.com/", "SMMMA"},
			{"GET", "https://closed.example.com/", "FFFFF"},
			{"GET", "https://example.com/", "FFFFF"}, // the default
			{"GET", "https://other.test/", "FFFFF"},
		} {
			for i, c := range visitors {
				want := verdictLetters[row.verdicts[i]]
				for _, proto := range []string{"nginx", "caddy", "api"} {
					resp := c.verify("", verifyHeaders(t, proto, row.method, row.url))
					if got, wantStatus := resp.StatusCode, verdictStatus(proto, want); got != wantStatus {
						t.Errorf("%s %s visitor %d via %s: %d, want %d (%s)", row.method, row.url, i, proto, got, wantStatus, want)
					}
					if proto == "caddy" && want == verdictSecondFactor && !strings.Contains(resp.Header.Get("Location"), "/login/mfa?next=") {
						t.Errorf("%s: second factor sends to %q", row.url, resp.Header.Get("Location"))
					}
					if want != verdictAllow {
						wantNoRemote(t, resp)
					} else if i == 2 && resp.Header.Get("Remote-Groups") != "user,dev,ops" {
						t.Errorf("%s: the ops member's Remote-Groups %q, want the role and the groups", row.url, resp.Header.Get("Remote-Groups"))
					}
				}
			}
		}
	})
}

// verifyHeaders is what each proxy sends for method and rawURL.
func verifyHeaders(t testing.TB, proto, method, rawURL string) http.Header {
	scheme, rest, _ := strings.Cut(rawURL, "://")
	host, uri, _ := strings.Cut(rest, "/")
	switch proto {
	case "nginx":
		return http.Header{"X-Original-Url": {rawURL}, "X-Original-Method": {method}}
	case "caddy":
		return http.Header{"X-Forwarded-Proto": {scheme}, "X-Forwarded-Host": {host}, "X-Forwarded-Uri": {"/" + uri},
			"X-Forwarded-Method": {method}, "Accept": {"text/html"}}
	}
	return http.Header{"X-Forwarded-Proto": {scheme}, "X-Forwarded-Host": {host}, "X-Forwarded-Uri": {"/" + uri},
		"X-Forwarded-Method": {method}, "Accept": {"application/json"}}
}

// verdictStatus is how each protocol answers a verdict.
func verdictStatus(proto string, v verdict) int {
	switch v {
	case verdictAllow:
		return http.StatusOK
	case verdictForbidden:
		return http.StatusForbidden
	case verdictSignIn:
		if proto == "caddy" {
			return http.StatusFound
		}
		return http.StatusUnauthorized
	}
	switch proto { // a second factor
	case "caddy":
		return http.StatusFound
	case "nginx":
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}

func TestForwardAuth_Rules_ForgedForwardedHostFromUntrustedAddressIgnored(t *testing.T) {
	db := testdb.SQLite(t)
	env := rulesEnv(t, matrixRules)
	trusted := newTestApp(t, db, env).client()
	env["TRUSTED_PROXIES"] = "192.0.2.1" // not app.Test's peer
	untrusted := newTestApp(t, db, env).client()
	bypassed := verifyHeaders(t, "api", "GET", "https://status.example.com/health")
	if resp := trusted.verify("", bypassed); resp.StatusCode != http.StatusOK {
		t.Fatalf("bypassed host from the trusted proxy: %d", resp.StatusCode)
	}
	for _, h := range []http.Header{bypassed, verifyHeaders(t, "nginx", "GET", "https://status.example.com/health")} {
		if resp := untrusted.verify("", h); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("bypassed host named by an untrusted address: %d, want 403", resp.StatusCode)
		}
	}
}

func TestForwardAuth_Rules_QueryRoleStillApplies_NoRulesUnchanged(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, rulesEnv(t, "default: bypass\n"))
	u := testdb.CreateUser(t, db, "plain@example.com", models.RoleUser)
	anon, c := a.client(), a.client()
	c.login(u.Email, "password123")
	h := verifyHeaders(t, "api", "GET", "https://app.example.com/")
	if resp := anon.verify("", h); resp.StatusCode != http.StatusOK || resp.Header.Get("Remote-User") != "" {
		t.Fatalf("bypass, anonymous: %d %q", resp.StatusCode, resp.Header.Get("Remote-User"))
	}
	if resp := c.verify("", h); resp.StatusCode != http.StatusOK || resp.Header.Get("Remote-User") != u.Email {
		t.Fatalf("bypass, signed in: %d, Remote-User %q", resp.StatusCode, resp.Header.Get("Remote-User"))
	}
	if resp := anon.verify("?role=admin", h); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bypass and ?role=admin, anonymous: %d", resp.StatusCode)
	}
	if resp := c.verify("?role=admin", h); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bypass and ?role=admin, user: %d", resp.StatusCode)
	}
}

// setGroups gives the user with email these groups.
func setGroups(t testing.TB, db *models.DB, email string, groups ...string) {
	t.Helper()
	u, err := models.FindUserByEmail(context.Background(), db, email)
	if err == nil {
		_, err = models.SetUserGroups(context.Background(), db, u.ID, groups, models.Audit{}, time.Now())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// The README's example rules load as written, and decide as its comments say.
func TestAccessRules_READMEExample_LoadsAndDecidesAsDocumented(t *testing.T) {
	rs, err := parseAccessRules([]byte(readmeSnippet(t, "yaml", "first match wins")))
	if err != nil {
		t.Fatalf("the README's rules: %v", err)
	}
	ops := visitor{SignedIn: true, Email: "o@example.com", Role: "user", Groups: "ops", MFA: true}
	for _, tc := range []struct {
		host, path, method string
		who                visitor
		want               verdict
	}{
		{"status.example.com", "/", "GET", visitor{}, verdictAllow},
		{"app.example.com", "/admin/x", "POST", ops, verdictAllow},
		{"app.example.com", "/api/v2/admin", "DELETE", visitor{SignedIn: true, Role: "user", MFA: true}, verdictForbidden},
		{"app.example.com", "/admin/x", "POST", visitor{SignedIn: true, Role: "user", Groups: "ops"}, verdictSecondFactor},
		{"wiki.example.com", "/", "GET", ops, verdictForbidden},
		{"other.example.org", "/", "GET", visitor{}, verdictSignIn},
	} {
		tg, _ := newAccessTarget(tc.host, tc.path, tc.method)
		if _, got := rs.decide(tg, tc.who); got != tc.want {
			t.Errorf("%s %s%s: %s, want %s", tc.method, tc.host, tc.path, got, tc.want)
		}
	}
	if r := rs.Rules[2]; r.Rate == nil || r.Rate.N != 100 || r.Rate.Per != time.Minute {
		t.Errorf("rate: %+v", r.Rate)
	}
}
