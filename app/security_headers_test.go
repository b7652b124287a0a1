package app

import (
	"net/http"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestHeaders_CSPNoSniffFrameAncestorsReferrer_OnEveryPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, _ := a.signIn("headers@example.com", models.RoleUser)
		for _, path := range []string{"/login", "/", "/api/me", "/healthz", "/no-such-page"} {
			resp := c.request("GET", path, nil, nil)
			resp.Body.Close()
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
				!strings.Contains(csp, "frame-ancestors 'none'") {
				t.Fatalf("%s: CSP %q", path, csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "same-origin" {
				t.Fatalf("%s: nosniff/referrer missing: %v", path, resp.Header)
			}
			if resp.Header.Get("Strict-Transport-Security") != "" {
				t.Fatalf("%s: HSTS over plain http", path)
			}
		}
	})
}

func TestHeaders_HSTSOnlyWhenBaseURLIsHTTPS(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, map[string]string{"BASE_URL": "https://login.example.com"})
	resp := a.client().request("GET", "/login", nil, nil)
	if !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("no HSTS with an https BASE_URL: %v", resp.Header)
	}
}

func TestHeaders_NoStoreOnEveryAuthenticatedResponse_FragmentsIncluded(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, _ := a.signIn("nostore@example.com", models.RoleAdmin)
		for _, r := range a.srv.Handler().GetRoutes(true) {
			if r.Method != http.MethodGet || strings.Contains(r.Path, ":") || strings.HasPrefix(r.Path, "/static") || r.Path == "/metrics" {
				continue
			}
			for _, h := range []http.Header{nil, {"Hx-Request": {"true"}}, {"Accept": {"application/json"}}} {
				resp := c.request("GET", r.Path, nil, h)
				resp.Body.Close()
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Fatalf("GET %s %v: Cache-Control %q", r.Path, h, cc)
				}
			}
		}
	})
}

func TestMethods_TraceAndPutAndUnknown_Return405_OnEveryRoute(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, nil)
	c := a.client()
	seen := map[string]bool{}
	for _, r := range a.srv.Handler().GetRoutes(true) {
		if seen[r.Path] {
			continue
		}
		seen[r.Path] = true
		path := strings.ReplaceAll(r.Path, ":id", "1")
		for _, m := range []string{"TRACE", "PUT", "PATCH", "PROPFIND", "BREW"} {
			resp := c.request(m, path, nil, nil)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("%s %s: %d, want 405", m, path, resp.StatusCode)
			}
		}
	}
}
