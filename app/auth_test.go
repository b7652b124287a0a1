package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestSignIn_SetsHardenedCookie_AndDBHoldsOnlyTheHash(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		for _, tc := range []struct {
			name, base, cookie string
			secure             bool
		}{
			{"http", "", "sessiond_session", false},
			{"https", "https://sessions.example.com", "__Host-sessiond_session", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := newTestApp(t, db, map[string]string{"BASE_URL": tc.base})
				u := testdb.CreateUser(t, db, "cookie-"+tc.name+"@example.com", models.RoleUser)
				c := a.client()
				c.page("/login")
				resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}})
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("status %d", resp.StatusCode)
				}
				var ck *http.Cookie
				for _, x := range resp.Cookies() {
					if x.Name == tc.cookie {
						ck = x
					}
				}
				if ck == nil {
					t.Fatalf("no %s cookie in %v", tc.cookie, resp.Header.Values("Set-Cookie"))
				}
				raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure != tc.secure {
					t.Fatalf("cookie attributes wrong: %s", raw)
				}
				if tc.secure && ck.Domain != "" {
					t.Fatalf("__Host- cookie must not carry a Domain: %s", raw)
				}
				if ck.MaxAge <= 0 || ck.MaxAge > int((30*24*time.Hour).Seconds()) {
					t.Fatalf("Max-Age %d beyond the server-side expiry", ck.MaxAge)
				}
				if !models.WellFormedToken(ck.Value) {
					t.Fatalf("token %q is not 32 random bytes", ck.Value)
				}
				if n := countRows(t, db, "sessions", "token_hash = ?", models.HashToken(ck.Value)); n != 1 {
					t.Fatalf("sessions with the token's hash: %d", n)
				}
				for _, table := range []string{"sessions", "session_events", "users", "settings"} {
					var rows []map[string]any
					if err := db.NewSelect().Table(table).Scan(context.Background(), &rows); err != nil {
						t.Fatal(err)
					}
					for _, r := range rows {
						for col, v := range r {
							if s, ok := v.(string); ok && strings.Contains(s, ck.Value) {
								t.Fatalf("raw token stored in %s.%s", table, col)
							}
						}
					}
				}
			})
		}
	})
}

func TestSignIn_WrongPasswordAndUnknownEmail_SameAnswer_NoCookie(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		testdb.CreateUser(t, db, "known@example.com", models.RoleUser)
		answer := func(email string) (int, string, []*http.Cookie) {
			c := a.client()
			c.page("/login")
			resp := c.form("/login", url.Values{"email": {email}, "password": {"wrong-password"}})
			body := readBody(t, resp)
			var sess []*http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == a.srv.cfg.CookieName() {
					sess = append(sess, ck)
				}
			}
			i := strings.Index(body, `role="alert">`)
			return resp.StatusCode, body[i : i+60], sess
		}
		s1, m1, c1 := answer("known@example.com")
		s2, m2, c2 := answer("nobody@example.com")
		if s1 != http.StatusUnauthorized || s1 != s2 || m1 != m2 {
			t.Fatalf("answers differ: %d %q vs %d %q", s1, m1, s2, m2)
		}
		if len(c1)+len(c2) != 0 {
			t.Fatal("a failed sign-in set a session cookie")
		}
		if n := countRows(t, db, "sessions", ""); n != 0 {
			t.Fatalf("%d sessions after failed sign-ins", n)
		}
	})
}

func TestLogout_DeletesRow_ClearsCookieWithSameAttributes_ReplayIsSignedOut(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"BASE_URL": "https://sessions.example.com"})
		c, u := a.signIn("logout@example.com", models.RoleUser)
		token := c.cookie()
		resp := c.form("/logout", nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout status %d", resp.StatusCode)
		}
		raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
		if !strings.Contains(raw, "__Host-sessiond_session=;") || !strings.Contains(raw, "path=/") ||
			!strings.Contains(raw, "secure") || !strings.Contains(raw, "SameSite=Lax") || !strings.Contains(raw, "expires=Thu, 01 Jan 1970") {
			t.Fatalf("cookie not cleared with the same attributes: %s", raw)
		}
		if n := countRows(t, db, "sessions", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("session row left after logout: %d", n)
		}
		replay := a.client()
		replay.jar.SetCookies(mustURL(replay.base), []*http.Cookie{{Name: a.srv.cfg.CookieName(), Value: token}})
		if replay.signedIn() {
			t.Fatal("old cookie still signs in after logout")
		}
	})
}

func TestCookie_NeverIssuedTamperedOrOversized_IsNotSignedIn_NoRowCreated(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		good, _ := a.signIn("tamper@example.com", models.RoleUser)
		token := good.cookie()
		fresh, _ := models.NewToken()
		for name, v := range map[string]string{
			"never issued": fresh,
			"tampered":     token[:10] + flipChar(token[10]) + token[11:],
			"truncated":    token[:20],
			"3000 chars":   strings.Repeat("a", 3000),
			"binary":       "\x01\x02\xff\xfe",
			"sql":          "' OR 1=1 --",
		} {
			c := a.client()
			req, _ := http.NewRequest("GET", testBase+"/api/me", nil)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Cookie", a.srv.cfg.CookieName()+"="+v)
			resp := a.do(req)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s: status %d, want 401", name, resp.StatusCode)
			}
			_ = c
		}
		if n := countRows(t, db, "sessions", ""); n != 1 {
			t.Fatalf("sessions: %d, want only the real one", n)
		}
	})
}

func TestSlidingExpiry_WritesOnlyAfterUpdateAge_ReissuesCookieOnlyThen(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"SESSION_TOUCH_INTERVAL": "48h"})
		c, u := a.signIn("slide@example.com", models.RoleUser)
		m := a.srv.Sessions()
		before := m.ExtendWrites.Load()

		a.clock.Advance(23 * time.Hour)
		resp := c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
		if resp.StatusCode != 200 || len(resp.Cookies()) != 0 || m.ExtendWrites.Load() != before {
			t.Fatalf("before updateAge: status %d, cookies %v, writes %d", resp.StatusCode, resp.Cookies(), m.ExtendWrites.Load()-before)
		}
		a.clock.Advance(time.Hour + time.Second)
		resp = c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
		if resp.StatusCode != 200 || len(resp.Cookies()) != 1 || m.ExtendWrites.Load() != before+1 {
			t.Fatalf("after updateAge: status %d, cookies %d, writes %d", resp.StatusCode, len(resp.Cookies()), m.ExtendWrites.Load()-before)
		}
		var me struct{ Expires time.Time }
		_ = json.NewDecoder(resp.Body).Decode(&me)
		if want := a.clock.Now().Add(30 * 24 * time.Hour); !me.Expires.Equal(want) {
			t.Fatalf("expires %v, want %v", me.Expires, want)
		}
		resp = c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
		if len(resp.Cookies()) != 0 || m.ExtendWrites.Load() != before+1 {
			t.Fatal("second request in the same window wrote or re-issued the cookie")
		}

		// Past expiry: refused, but the row stays for the admin list.
		a.clock.Advance(31 * 24 * time.Hour)
		if c.signedIn() {
			t.Fatal("expired session accepted")
		}
		if n := countRows(t, db, "sessions", "user_id = ?", u.ID); n != 1 {
			t.Fatalf("expired row removed early: %d", n)
		}
	})
}

func TestAbsoluteLifetime_CapsSlidingExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"SESSION_ABSOLUTE_LIFETIME": "3d", "SESSION_UPDATE_AGE": "1h"})
		c, _ := a.signIn("cap@example.com", models.RoleUser)
		start := a.clock.Now()
		for i := 0; i < 70; i++ {
			a.clock.Advance(time.Hour)
			if !c.signedIn() {
				t.Fatalf("signed out after %d h, before the 72 h cap", i+1)
			}
			s, err := a.srv.Sessions().GetSession(context.Background(), c.cookie())
			if err != nil {
				t.Fatal(err)
			}
			if s.ExpiresAt.After(start.Add(72 * time.Hour)) {
				t.Fatalf("expiry %v passes the absolute cap", s.ExpiresAt)
			}
		}
		a.clock.Set(start.Add(72 * time.Hour))
		if c.signedIn() {
			t.Fatal("session outlived its absolute lifetime")
		}
	})
}

func TestLogout_Racing50Requests_LeavesSessionDeleted(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"SESSION_UPDATE_AGE": "0", "SESSION_TOUCH_INTERVAL": "0"})
		c, _ := a.signIn("race@example.com", models.RoleUser)
		token := c.cookie()
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", testBase+"/api/me", nil)
				req.Header.Set("Accept", "application/json")
				req.Header.Set("Cookie", a.srv.cfg.CookieName()+"="+token)
				resp, err := a.srv.Handler().Test(req, -1)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode >= 500 {
						t.Errorf("status %d", resp.StatusCode)
					}
				}
			}()
		}
		resp := c.form("/logout", nil)
		wg.Wait()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout status %d", resp.StatusCode)
		}
		if n := countRows(t, db, "sessions", "token_hash = ?", models.HashToken(token)); n != 0 {
			t.Fatal("a racing refresh resurrected the session")
		}
	})
}

func TestCSRF_LoginAndLogoutWithoutToken_Return403_AndChangeNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "csrf@example.com", models.RoleUser)
		anon := a.client()
		anon.page("/login")
		resp := anon.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}, "_csrf": {""}})
		if resp.StatusCode != http.StatusForbidden || anon.cookie() != "" {
			t.Fatalf("login without token: status %d", resp.StatusCode)
		}
		c := a.client()
		c.login(u.Email, "password123")
		resp = c.form("/logout", url.Values{"_csrf": {""}})
		if resp.StatusCode != http.StatusForbidden || !c.signedIn() {
			t.Fatalf("logout without token: status %d, signed in %v", resp.StatusCode, c.signedIn())
		}
		// A token sent in the query string does not count.
		resp = c.request("POST", "/logout?_csrf="+url.QueryEscape(c.csrf), nil, nil)
		if resp.StatusCode != http.StatusForbidden || !c.signedIn() {
			t.Fatalf("logout with query token: status %d", resp.StatusCode)
		}
	})
}

func TestSignIn_AlwaysNewSession_EndsThePreviousOne(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		ua := testdb.CreateUser(t, db, "first@example.com", models.RoleUser)
		ub := testdb.CreateUser(t, db, "second@example.com", models.RoleUser)
		c := a.client()
		c.login(ua.Email, "password123")
		first := c.cookie()
		c.login(ub.Email, "password123")
		if c.cookie() == first {
			t.Fatal("sign-in reused the old token")
		}
		if n := countRows(t, db, "sessions", "token_hash = ?", models.HashToken(first)); n != 0 {
			t.Fatal("signing in as B left A's session alive")
		}
	})
}

func TestSetup_OneTimeLinkCreatesFirstAdmin_ThenStopsWorking(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		token, err := a.srv.OpenSetup(context.Background())
		if err != nil || token == "" {
			t.Fatalf("setup not opened: %v", err)
		}
		c := a.client()
		if resp, _ := c.page("/setup?token=wrong"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("wrong token: %d", resp.StatusCode)
		}
		if resp, _ := c.page("/setup?token=" + token); resp.StatusCode != http.StatusOK {
			t.Fatalf("setup page: %d", resp.StatusCode)
		}
		resp := c.form("/setup", url.Values{"token": {token}, "email": {"root@example.com"}, "name": {"Root"}, "password": {"a-long-password"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("setup: %d %s", resp.StatusCode, readBody(t, resp))
		}
		if resp, _ := c.page("/admin/"); resp.StatusCode == http.StatusForbidden {
			t.Fatal("new admin is not an admin")
		}
		if resp, _ := a.client().page("/setup?token=" + token); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("setup link works twice: %d", resp.StatusCode)
		}
		if again, _ := a.srv.OpenSetup(context.Background()); again != "" {
			t.Fatal("setup reopened although an admin exists")
		}
	})
}

func TestErrors_JSONForAPIClients_HTMLForBrowsers_405ForUnknownMethods(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c := a.client()
		resp := c.request("GET", "/no-such-page", nil, http.Header{"Accept": {"application/json"}})
		var e struct{ Error string }
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != 404 || e.Error == "" {
			t.Fatalf("json 404: %d %v %+v", resp.StatusCode, err, e)
		}
		resp, body := c.page("/no-such-page")
		if resp.StatusCode != 404 || !strings.Contains(body, "<html") {
			t.Fatalf("html 404: %d", resp.StatusCode)
		}
		for _, m := range []string{"TRACE", "PUT", "PATCH", "FOO"} {
			resp := c.request(m, "/login", nil, nil)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("%s: %d, want 405", m, resp.StatusCode)
			}
		}
		resp = c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("api without session: %d", resp.StatusCode)
		}
	})
}

func TestDatabaseDown_Returns503_WithGenericMessage(t *testing.T) {
	db := testdb.SQLite(t)
	// Without the cache: a cached session would (rightly) be served while
	// the database is down, and this test is about the database.
	a := newTestApp(t, db, map[string]string{"SESSION_CACHE_TTL": "0"})
	c, _ := a.signIn("down@example.com", models.RoleUser)
	db.Close()
	resp := c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(strings.ToLower(body), "sql") {
		t.Fatalf("db down: %d %s", resp.StatusCode, body)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// flipChar returns a base64url character other than b, so a tampered token
// always differs from the real one.
func flipChar(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}
