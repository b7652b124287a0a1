package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// FuzzSessionCookie: whatever the cookie holds, the answer is "signed in"
// only for the real token, never a 5xx, and no session row appears.
func FuzzSessionCookie(f *testing.F) {
	db := testdb.SQLite(f)
	a := newTestApp(f, db, map[string]string{"LOG_LEVEL": "error"})
	u := testdb.CreateUser(f, db, "fuzz@example.com", models.RoleUser)
	c := a.client()
	c.login(u.Email, "password123")
	real := c.cookie()
	for _, seed := range []string{"", real[:20], strings.Repeat("A", 43), "%00", "a;b=c", strings.Repeat("z", 3000), "\xff\xfe"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		req, _ := http.NewRequest("GET", testBase+"/api/me", nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Cookie", a.srv.cfg.CookieName()+"="+v)
		resp, err := a.srv.Handler().Test(req, -1)
		if err != nil {
			return // fasthttp refused the header itself
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("cookie %q: %d", v, resp.StatusCode)
		case resp.StatusCode == 200 && v != real:
			t.Fatalf("cookie %q signed in", v)
		}
		if n := countRows(t, db, "sessions", ""); n != 1 {
			t.Fatalf("cookie %q changed the sessions table: %d rows", v, n)
		}
	})
}

// FuzzSafeNext: a post-login redirect never leaves the site.
func FuzzSafeNext(f *testing.F) {
	db := testdb.SQLite(f)
	a := newTestApp(f, db, map[string]string{"BASE_URL": "https://login.example.com", "COOKIE_DOMAIN": "example.com"})
	for _, seed := range []string{"/", "/admin", "//evil.example", "https://evil.example", "javascript:alert(1)",
		"/\\evil.example", "https://app.example.com/x", "https://example.com.evil.example/", "https://u@app.example.com/",
		"http://app.example.com/", "\t//evil", "/%2F%2Fevil", "https:evil.example"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := a.srv.safeNext(next)
		if strings.HasPrefix(got, "/") {
			if strings.HasPrefix(got, "//") || strings.Contains(got, "\\") {
				t.Fatalf("safeNext(%q) = %q: protocol-relative", next, got)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "https" || u.User != nil || !hostWithin(u.Hostname(), "example.com") {
			t.Fatalf("safeNext(%q) = %q: leaves the site", next, got)
		}
	})
}
