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

// TestForwardAuth_MFA_OnlySecondFactorSessions_StepThenBack: ?mfa=1 admits
// only a session made with a second factor. A password session of a user
// with a factor goes to the second step and comes back to the app with a
// new session; /api/me says how it was made.
func TestForwardAuth_MFA_OnlySecondFactorSessions_StepThenBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"BASE_URL": "http://login.example.com", "COOKIE_DOMAIN": "example.com"})
		c, u := a.signIn("mfa-app@example.com", models.RoleUser)
		secret, _ := enrolTOTP(t, a, c) // this session stays a password session
		verify := func(query string, h http.Header) *http.Response {
			if h == nil {
				h = http.Header{}
			}
			h.Set("X-Forwarded-Host", "app.example.com")
			h.Set("X-Forwarded-Uri", "/dashboard")
			h.Set("Accept", "text/html")
			return c.request("GET", "/auth/verify"+query, nil, h)
		}
		if resp := verify("", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("without mfa: %d", resp.StatusCode)
		}
		if resp := verify("?mfa=1", http.Header{"X-Original-Url": {"http://app.example.com/dashboard"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("nginx, password session, mfa=1: %d, want 401", resp.StatusCode)
		}
		if resp := verify("?mfa=yes", nil); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("mfa=yes: %d, want 400", resp.StatusCode)
		}
		resp := verify("?mfa=1", nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || loc != "http://login.example.com/login/mfa?next="+url.QueryEscape("http://app.example.com/dashboard") {
			t.Fatalf("browser, password session, mfa=1: %d to %q", resp.StatusCode, loc)
		}
		c.page("/login/mfa?next=" + url.QueryEscape("http://app.example.com/dashboard"))
		resp = c.form("/login/mfa", url.Values{"next": {"http://app.example.com/dashboard"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != stepSecondFactor {
			t.Fatalf("continue: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		c.page(stepSecondFactor)
		a.clock.Advance(time.Minute)
		resp = c.form(stepSecondFactor, url.Values{"code": {codeAt(t, secret, a.clock.Now())}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://app.example.com/dashboard" {
			t.Fatalf("second step: %d to %q, want back to the app", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp := verify("?mfa=1", nil); resp.StatusCode != http.StatusOK || resp.Header.Get("Remote-Email") != u.Email {
			t.Fatalf("after the second step, mfa=1: %d", resp.StatusCode)
		}
		resp = c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
		if body := readBody(t, resp); !strings.Contains(body, `"amr":["pwd","otp"]`) {
			t.Fatalf("/api/me: %s", body)
		}
		if countRows(t, db, "sessions", "user_id = ?", u.ID) != 1 {
			t.Fatal("the password session outlived the second step")
		}
	})
}
