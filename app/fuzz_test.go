package app

import (
	"errors"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
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

// FuzzAdminQueryParsing: any query string given to the session, audit and
// user lists parses to values inside their bounds or to a 400 that names a
// parameter; it never panics.
func FuzzAdminQueryParsing(f *testing.F) {
	for _, seed := range []string{"", "page=-1", "page=abc&limit=0", "limit=101", "userId=abc", "status=bogus",
		"q=%25_%5C'%22", "cursor=!!", "page=99999999999999999999", "from=2026-13-01&to=x", "kind=session.created&limit=200",
		"q=" + strings.Repeat("a", 300), "page=1&page=2", "userId=1e3", "limit=1.5", "q=%00", "q=%ff%fe"} {
		f.Add(seed)
	}
	app := fiber.New()
	f.Fuzz(func(t *testing.T, raw string) {
		c := app.AcquireCtx(&fasthttp.RequestCtx{})
		defer app.ReleaseCtx(c)
		c.Request().SetRequestURI("/admin/sessions?" + raw)
		if err := checkText(c); err != nil { // refused before any handler parses it
			var fe *fiber.Error
			if !errors.As(err, &fe) || fe.Code != fiber.StatusBadRequest {
				t.Fatalf("checkText %q: %v", raw, err)
			}
			return
		}
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var fe *fiber.Error
			if !errors.As(err, &fe) || fe.Code != fiber.StatusBadRequest || fe.Message == "" {
				t.Fatalf("%s %q: error %v is not a 400 with a message", what, raw, err)
			}
		}
		q, err := parseSessionQuery(c)
		check("sessions", err)
		if err == nil {
			if q.Limit < 1 || q.Limit > models.MaxSessionListLimit || q.Page < 1 || q.UserID < 0 ||
				len(q.Q) > maxQueryLen || !utf8.ValidString(q.Q) || strings.ContainsRune(q.Q, 0) {
				t.Fatalf("sessions %q: out of bounds %+v", raw, q)
			}
			switch q.Status {
			case models.StatusAll, models.StatusActive, models.StatusExpired:
			default:
				t.Fatalf("sessions %q: status %q", raw, q.Status)
			}
		}
		aq, err := parseAuditQuery(c)
		check("audit", err)
		if err == nil && (aq.filter.Limit < 0 || aq.filter.Limit > models.MaxEventLimit || aq.filter.UserID < 0) {
			t.Fatalf("audit %q: out of bounds %+v", raw, aq.filter)
		}
		uq, err := parseUsersQuery(func(k string) string { return c.Query(k) })
		check("users", err)
		if err == nil && (uq.Page < 1 || uq.Limit < 1 || uq.Limit > 100 || len(uq.Q) > maxUsersQ) {
			t.Fatalf("users %q: out of bounds %+v", raw, uq)
		}
	})
}
