package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// forwardEnv is a single sign-on setup: sessiond at login.example.com, apps
// on other subdomains of example.com.
func forwardEnv() map[string]string {
	return map[string]string{"BASE_URL": "https://login.example.com", "COOKIE_DOMAIN": "example.com"}
}

// Proxy requests as each protocol sends them: nginx's auth_request with the
// X-Original-URL our config sets; Caddy's forward_auth and Traefik's
// ForwardAuth both send X-Forwarded-Method/Proto/Host/Uri (each is also
// tested end to end with the real proxy).
var (
	nginxAuth     = http.Header{"X-Original-Url": {"https://app.example.com/docs?page=2"}, "Accept": {"text/html"}}
	forwardedAuth = http.Header{
		"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com"},
		"X-Forwarded-Uri": {"/docs?page=2&x=1"}, "X-Forwarded-Method": {"GET"}, "Accept": {"text/html,application/xhtml+xml"},
	}
	apiAuth = http.Header{
		"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com"},
		"X-Forwarded-Uri": {"/api/items"}, "X-Forwarded-Method": {"GET"}, "Accept": {"*/*"},
	}
)

const forwardedOriginal = "https://app.example.com/docs?page=2&x=1"

func (c *client) verify(query string, h http.Header) *http.Response {
	c.app.t.Helper()
	resp := c.request("GET", "/auth/verify"+query, nil, h)
	resp.Body.Close()
	return resp
}

func wantRemote(t *testing.T, resp *http.Response, u *models.User) {
	t.Helper()
	want := map[string]string{"Remote-User": u.Email, "Remote-Name": u.Name, "Remote-Email": u.Email, "Remote-Groups": u.Role}
	for k, v := range want {
		if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly %q", k, got, v)
		}
	}
}

func wantNoRemote(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, k := range []string{"Remote-User", "Remote-Name", "Remote-Email", "Remote-Groups"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("refused answer carries %s: %q", k, v)
		}
	}
}

func TestForwardAuth_EachProtocol_SignedInGets200WithExactRemoteHeaders(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, forwardEnv())
		c, u := a.signIn("ada@example.com", models.RoleUser)
		for name, h := range map[string]http.Header{"nginx": nginxAuth, "caddy/traefik": forwardedAuth, "api": apiAuth, "plain": nil} {
			resp := c.verify("", h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d", name, resp.StatusCode)
			}
			wantRemote(t, resp, u)
		}
		if resp := c.verify("?mode=nginx", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("?mode=nginx: %d", resp.StatusCode)
		}
	})
}

func TestForwardAuth_NoSession_NginxGets401_BrowserRedirectedWithNext_APIGets401(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, forwardEnv())
		c := a.client()

		for _, tc := range []struct {
			name  string
			query string
			h     http.Header
		}{{"nginx header", "", nginxAuth}, {"nginx query", "?mode=nginx", forwardedAuth}, {"api", "", apiAuth}, {"plain", "", nil}} {
			resp := c.verify(tc.query, tc.h)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != "" {
				t.Fatalf("%s: status %d location %q, want 401 without redirect", tc.name, resp.StatusCode, resp.Header.Get("Location"))
			}
			wantNoRemote(t, resp)
		}

		resp := c.verify("", forwardedAuth)
		want := "https://login.example.com/login?next=" + url.QueryEscape(forwardedOriginal)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Fatalf("browser: %d %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		wantNoRemote(t, resp)
		if n := countRows(t, db, "sessions", ""); n != 0 {
			t.Fatalf("verify created %d sessions", n)
		}
	})
}

func TestForwardAuth_ExpiredOrUnknownSession_TreatedAsNoSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, forwardEnv())
		c, _ := a.signIn("exp@example.com", models.RoleUser)
		a.clock.Advance(31 * 24 * time.Hour)
		if resp := c.verify("", nginxAuth); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("nginx, expired: %d", resp.StatusCode)
		}
		if resp := c.verify("", forwardedAuth); resp.StatusCode != http.StatusFound {
			t.Fatalf("browser, expired: %d", resp.StatusCode)
		}
		if n := countRows(t, db, "sessions", ""); n != 1 {
			t.Fatalf("expired session row should stay for the admin list: %d", n)
		}

		stranger := a.client()
		h := nginxAuth.Clone()
		h.Set("Cookie", a.srv.cfg.CookieName()+"="+strings.Repeat("A", models.TokenLen))
		if resp := stranger.verify("", h); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unknown token: %d", resp.StatusCode)
		}
	})
}

func TestForwardAuth_RoleAdmin_UserGets403_AdminGets200(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, forwardEnv())
		u := testdb.CreateUser(t, db, "user@example.com", models.RoleUser)
		adm := testdb.CreateUser(t, db, "admin@example.com", models.RoleAdmin)
		uc, ac := a.client(), a.client()
		uc.login(u.Email, "password123")
		ac.login(adm.Email, "password123")
		for name, h := range map[string]http.Header{"nginx": nginxAuth, "caddy/traefik": forwardedAuth} {
			resp := uc.verify("?role=admin", h)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s: user with role=admin: %d", name, resp.StatusCode)
			}
			wantNoRemote(t, resp)
			resp = ac.verify("?role=admin", h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: admin with role=admin: %d", name, resp.StatusCode)
			}
			wantRemote(t, resp, adm)
		}
		if resp := uc.verify("?role=user", nginxAuth); resp.StatusCode != http.StatusOK {
			t.Fatalf("role=user: %d", resp.StatusCode)
		}
		if resp := uc.verify("?role=root", nginxAuth); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("unknown role: %d", resp.StatusCode)
		}
	})
}

func TestForwardAuth_NoWriteUntilTouchOrUpdateIsDue(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, forwardEnv())
		c, _ := a.signIn("quiet@example.com", models.RoleUser)
		m := a.srv.Sessions()
		ext, touch := m.ExtendWrites.Load(), m.TouchWrites.Load()
		events := countRows(t, db, "session_events", "")

		for i := 0; i < 25; i++ {
			resp := c.verify("", forwardedAuth)
			if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
				t.Fatalf("request %d: %d, cookies %v", i, resp.StatusCode, resp.Cookies())
			}
			a.clock.Advance(time.Second)
		}
		if m.ExtendWrites.Load() != ext || m.TouchWrites.Load() != touch || countRows(t, db, "session_events", "") != events {
			t.Fatalf("writes without a refresh due: extend %d→%d touch %d→%d", ext, m.ExtendWrites.Load(), touch, m.TouchWrites.Load())
		}

		a.clock.Advance(5 * time.Minute)
		for i := 0; i < 5; i++ {
			if resp := c.verify("", nginxAuth); resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
				t.Fatalf("after touch interval: %d %v", resp.StatusCode, resp.Cookies())
			}
		}
		if m.TouchWrites.Load() != touch+1 || m.ExtendWrites.Load() != ext {
			t.Fatalf("touch interval passed: want exactly one touch write, got touch %d→%d extend %d→%d",
				touch, m.TouchWrites.Load(), ext, m.ExtendWrites.Load())
		}

		a.clock.Advance(25 * time.Hour)
		resp := c.verify("", nginxAuth)
		if m.ExtendWrites.Load() != ext+1 {
			t.Fatalf("update age passed: extend writes %d→%d", ext, m.ExtendWrites.Load())
		}
		ck := findCookie(resp, a.srv.cfg.CookieName())
		if ck == nil || ck.Domain != "example.com" || !ck.Secure {
			t.Fatalf("extension must re-issue the domain cookie for the proxy to pass on, got %+v", ck)
		}
		c.verify("", nginxAuth)
		if m.ExtendWrites.Load() != ext+1 {
			t.Fatalf("second request after extension wrote again")
		}
	})
}

func findCookie(resp *http.Response, name string) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func TestForwardAuth_NextOutsideAllowedDomain_IsDroppedAndRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, forwardEnv())
		u := testdb.CreateUser(t, db, "round@example.com", models.RoleUser)
		c := a.client()

		h := forwardedAuth.Clone()
		h.Set("X-Forwarded-Host", "example.com.evil.example")
		resp := c.verify("", h)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://login.example.com/login" {
			t.Fatalf("foreign host: %d %q, want a plain sign-in redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
		h = forwardedAuth.Clone()
		h.Set("X-Forwarded-Proto", "http") // BASE_URL is https: never send the user back over http
		if resp := c.verify("", h); resp.Header.Get("Location") != "https://login.example.com/login" {
			t.Fatalf("http next kept: %q", resp.Header.Get("Location"))
		}

		_, body := c.page("/login?next=" + url.QueryEscape("https://evil.example/"))
		if strings.Contains(body, "evil.example") {
			t.Fatal("login page echoes a foreign next")
		}
		resp = c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}, "next": {"https://evil.example/"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("foreign next after sign-in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestForwardAuth_SignInRoundTrip_ReturnsToOriginalURL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, forwardEnv())
		u := testdb.CreateUser(t, db, "trip@example.com", models.RoleUser)
		c := a.client()
		loc, _ := url.Parse(c.verify("", forwardedAuth).Header.Get("Location"))
		_, body := c.page(loc.RequestURI())
		if !strings.Contains(body, `name="next" value="https://app.example.com/docs?page=2&amp;x=1"`) {
			t.Fatalf("login page does not carry next: %s", body)
		}
		resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}, "next": {loc.Query().Get("next")}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != forwardedOriginal {
			t.Fatalf("after sign-in: %d %q, want %q", resp.StatusCode, resp.Header.Get("Location"), forwardedOriginal)
		}
		if resp := c.verify("", forwardedAuth); resp.StatusCode != http.StatusOK {
			t.Fatalf("verify after sign-in: %d", resp.StatusCode)
		}
		// Already signed in: the sign-in page sends straight back.
		resp = c.request("GET", "/login?next="+url.QueryEscape(forwardedOriginal), nil, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != forwardedOriginal {
			t.Fatalf("signed-in visit to /login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestSafeNext_OnlyThisSiteOrCookieDomainOverItsScheme(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, forwardEnv())
	allowed := []string{
		"/", "/admin/sessions?page=2", "https://app.example.com/x?y=1#z", "https://example.com/", "https://a.b.example.com:8443/",
		"HTTPS://APP.example.com/",
	}
	refused := []string{
		"", "//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example/", "http://app.example.com/",
		"https://example.com.evil.example/", "https://evilexample.com/", "https://u@app.example.com/", "https://app.example.com@evil.example/",
		"https://app.example.com:443@evil.example/", "javascript:alert(1)", "JavaScript://app.example.com/%0aalert(1)",
		"data:text/html,x", "https:evil.example", "https:/evil.example", "https:///evil.example", "\t//evil.example",
		"/\t/evil.example", "https://app.example.com%2F@evil.example/", "https://%65vil.example/", "https://[::1]/",
		"https://app.example.com:x/", "ftp://app.example.com/", "https://app.example.com\\@evil.example/",
		"/" + strings.Repeat("a", 3000),
	}
	for _, n := range allowed {
		if _, ok := a.srv.allowedNext(n); !ok {
			t.Errorf("allowedNext(%q) refused", n)
		}
	}
	for _, n := range refused {
		if got, ok := a.srv.allowedNext(n); ok {
			t.Errorf("allowedNext(%q) = %q, want refused", n, got)
		}
		if got := a.srv.safeNext(n); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", n, got)
		}
	}

	// Without COOKIE_DOMAIN only BASE_URL's own host (and port) is allowed.
	b := newTestApp(t, db, map[string]string{"BASE_URL": "http://127.0.0.1:8080"})
	for n, want := range map[string]bool{"http://127.0.0.1:8080/x": true, "http://127.0.0.1:9090/x": false, "https://app.example.com/": false} {
		if _, ok := b.srv.allowedNext(n); ok != want {
			t.Errorf("BASE_URL only: allowedNext(%q) = %v, want %v", n, ok, want)
		}
	}
}

func TestCookieDomain_SecurePrefixAndDomainOverHTTPS_HostPrefixWithout(t *testing.T) {
	db := testdb.SQLite(t)
	u := testdb.CreateUser(t, db, "ck@example.com", models.RoleUser)
	for _, tc := range []struct {
		env          map[string]string
		name, domain string
		secure       bool
	}{
		{forwardEnv(), "__Secure-sessiond_session", "example.com", true},
		{map[string]string{"BASE_URL": "https://login.example.com"}, "__Host-sessiond_session", "", true},
		{map[string]string{"BASE_URL": "http://login.example.com", "COOKIE_DOMAIN": ".example.com"}, "sessiond_session", "example.com", false},
	} {
		a := newTestApp(t, db, tc.env)
		c := a.client()
		c.page("/login")
		resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}})
		ck := findCookie(resp, tc.name)
		if ck == nil {
			t.Fatalf("%v: no %s cookie in %v", tc.env, tc.name, resp.Header.Values("Set-Cookie"))
		}
		if ck.Domain != tc.domain || ck.Secure != tc.secure || !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode {
			t.Fatalf("%v: cookie %+v", tc.env, ck)
		}
		// Logout clears it with the same Domain, or browsers keep it.
		c.page("/")
		out := findCookie(c.form("/logout", nil), tc.name)
		if out == nil || out.Domain != tc.domain || out.Value != "" || out.Expires.Year() > 1970 {
			t.Fatalf("%v: logout cookie %+v", tc.env, out)
		}
	}
}
