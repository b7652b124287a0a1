package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// e2eRules are the access rules the proxies are tested with, on the test
// domain: a bypassed path, a group's path, a rate, a second factor.
const e2eRules = `default: signed_in
rules:
  - paths: ["/public/*"]
    policy: bypass
  - paths: ["/ops/*"]
    groups: [ops]
  - paths: ["/limited/*"]
    rate: 3/min
  - hosts: ["app1.example.test"]
    paths: ["^/secure(/|$)"]
    mfa: true
`

// proxyRules runs the access rules and the sign-out link through a proxy
// configured as the README says: what each visitor gets at the client,
// not at sessiond.
func proxyRules(t *testing.T, p proxySetup) {
	a, up, proxy := proxyStack(t, p, "ACCESS_RULES", writeRules(t, e2eRules))
	db := a.db
	loginBase := a.srv.cfg.BaseURL.String()
	app := func(n, path string) string { return "http://app" + n + "." + p.domain + ":" + portOf(proxy) + path }
	user := testdb.CreateUser(t, db, "rules-user@example.com", models.RoleUser)
	ops := testdb.CreateUser(t, db, "rules-ops@example.com", models.RoleUser)
	setGroups(t, db, ops.Email, "ops")

	// Signed out: a bypassed path is served, anything else sends to sign in.
	anon := e2eBrowser(t)
	if resp, body := e2eGet(t, anon, app("1", "/public/a"), nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"/public/a"`) {
		t.Fatalf("bypassed path signed out: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e2eGet(t, anon, app("1", "/ops/deploy"), nil); resp.StatusCode != http.StatusFound ||
		!strings.HasPrefix(resp.Header.Get("Location"), loginBase+"/login?next=") {
		t.Fatalf("group path signed out: %d %q, want sent to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A group's path: refused to others, served to members with their groups.
	br := e2eBrowser(t)
	e2eSignIn(t, br, loginBase, user.Email, app("1", "/home"))
	hits := up.hits.Load()
	if resp, _ := e2eGet(t, br, app("1", "/ops/deploy"), nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("group path, not a member: %d, want 403", resp.StatusCode)
	}
	if up.hits.Load() != hits {
		t.Fatal("the upstream was reached by a non-member")
	}
	member := e2eBrowser(t)
	e2eSignIn(t, member, loginBase, ops.Email, app("2", "/ops/deploy"))
	resp, body := e2eGet(t, member, app("2", "/ops/deploy"), nil)
	var got echoed
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Headers.Get("Remote-Groups") != "user,ops" {
		t.Fatalf("group path, member: %d %s", resp.StatusCode, body)
	}

	// The rate: 3 a minute, then 429 with Retry-After at the client.
	for i := range 3 {
		if resp, _ := e2eGet(t, br, app("1", "/limited/x"), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("limited path, request %d: %d", i+1, resp.StatusCode)
		}
	}
	hits = up.hits.Load()
	resp, _ = e2eGet(t, br, app("2", "/limited/x"), nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "20" {
		t.Fatalf("over the rate: %d Retry-After %q, want 429 with 20 at the client", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if up.hits.Load() != hits {
		t.Fatal("the upstream was reached over the rate")
	}
	if resp, _ := e2eGet(t, member, app("1", "/limited/x"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("another session over the limited path: %d", resp.StatusCode)
	}

	// mfa: true sends a password session to the second step and back.
	secure := app("1", "/secure/panel")
	resp, _ = e2eGet(t, br, secure, nil)
	if want := loginBase + "/login/mfa?next=" + url.QueryEscape(secure); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Fatalf("mfa rule, password session: %d %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if p.nginx { // the README's ?mfa=1 lines, on app3
		if resp, _ := e2eGet(t, br, app("3", "/x"), nil); resp.StatusCode != http.StatusFound ||
			!strings.HasPrefix(resp.Header.Get("Location"), loginBase+"/login/mfa?next=") {
			t.Fatalf("?mfa=1 through nginx, password session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	giveSecondFactor(t, a, user.ID)
	if resp, _ := e2eGet(t, br, secure, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("mfa rule, second-factor session: %d", resp.StatusCode)
	}
	if p.nginx {
		if resp, _ := e2eGet(t, br, app("3", "/x"), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("?mfa=1 through nginx, second-factor session: %d", resp.StatusCode)
		}
	}

	proxySignOut(t, br, loginBase, app)
	if resp, _ := e2eGet(t, member, app("1", "/home"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("another user's session after one signed out: %d", resp.StatusCode)
	}
}

// proxySignOut follows an app's sign-out link as the README sets it up:
// the confirm page, its button, and then no app lets the browser in.
func proxySignOut(t *testing.T, br *http.Client, loginBase string, app func(n, path string) string) {
	t.Helper()
	for _, n := range []string{"1", "2"} {
		if resp, _ := e2eGet(t, br, app(n, "/home"), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("app%s before signing out: %d", n, resp.StatusCode)
		}
	}
	resp, _ := e2eGet(t, br, app("2", "/signout"), nil)
	confirm := loginBase + "/logout?rd=" + app("2", "/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != confirm {
		t.Fatalf("the sign-out link: %d %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), confirm)
	}
	resp, page := e2eGet(t, br, confirm, nil)
	csrf := csrfMeta.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || csrf == nil || !strings.Contains(page, `id="logout-confirm"`) ||
		!strings.Contains(page, `name="rd" value="`+app("2", "/")+`"`) {
		t.Fatalf("confirm page: %d %s", resp.StatusCode, page)
	}
	for _, n := range []string{"1", "2"} { // the page alone signed nobody out
		if resp, _ := e2eGet(t, br, app(n, "/home"), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("app%s after only opening the confirm page: %d", n, resp.StatusCode)
		}
	}
	resp, err := br.PostForm(loginBase+"/logout", url.Values{"_csrf": {csrf[1]}, "rd": {app("2", "/")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != app("2", "/") {
		t.Fatalf("after signing out: %d %q, want back at the app", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, n := range []string{"1", "2"} {
		resp, _ := e2eGet(t, br, app(n, "/home"), nil)
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), loginBase+"/login?next=") {
			t.Fatalf("app%s after signing out: %d %q, want sent to sign in", n, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// giveSecondFactor marks the user's sessions as made with a password and
// a one-time code, as the second step would.
func giveSecondFactor(t testing.TB, a *testApp, userID int64) {
	t.Helper()
	if _, err := a.db.NewUpdate().Table("sessions").Set("amr = ?", models.NewAMR(models.MethodPassword, models.MethodOTP)).
		Where("user_id = ?", userID).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.srv.Sessions().Cache().Flush()
}

func TestProxy_Nginx_AccessRules_BypassGroupRateSecondFactorAndSignOutAtTheClient(t *testing.T) {
	proxyRules(t, nginxSetup)
}

func TestProxy_Caddy_AccessRules_BypassGroupRateSecondFactorAndSignOutAtTheClient(t *testing.T) {
	proxyRules(t, caddySetup)
}

func TestProxy_CaddyWrittenOut_AccessRules_BypassGroupRateSecondFactorAndSignOutAtTheClient(t *testing.T) {
	proxyRules(t, caddyWrittenSetup)
}
