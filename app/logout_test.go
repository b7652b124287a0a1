package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestLogout_RdConfirmPage_PostEndsSessionAndGoesThere_BadRdDropped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, forwardEnv())
		u := testdb.CreateUser(t, db, "bye@example.com", models.RoleUser)
		c := a.client()
		c.login(u.Email, "password123")
		rd := "https://app1.example.com/after?x=1"

		resp, page := c.page("/logout?rd=" + url.QueryEscape(rd))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="rd" value="https://app1.example.com/after?x=1"`) ||
			!strings.Contains(resp.Header.Get(headerCSP), "form-action 'self' https://app1.example.com;") {
			t.Fatalf("confirm page: %d CSP %q\n%s", resp.StatusCode, resp.Header.Get(headerCSP), page)
		}
		if !c.signedIn() {
			t.Fatal("opening the confirm page signed the user out")
		}
		for _, bad := range []string{"https://evil.example.net/", "javascript:alert(1)", "//evil.example.net/", "http://app1.example.com/"} {
			_, page := c.page("/logout?rd=" + url.QueryEscape(bad))
			if strings.Contains(page, `name="rd"`) || strings.Contains(page, "evil") || strings.Contains(page, "javascript") {
				t.Errorf("rd %q reached the page", bad)
			}
		}
		c.page("/logout?rd=" + url.QueryEscape(rd))
		resp = c.form("/logout", url.Values{"rd": {rd}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != rd {
			t.Fatalf("sign out: %d to %q, want %s", resp.StatusCode, resp.Header.Get("Location"), rd)
		}
		if c.signedIn() || countRows(t, db, "sessions", "user_id = ?", u.ID) != 0 {
			t.Fatal("the session outlived the sign-out")
		}
		resp = c.request("GET", "/logout?rd="+url.QueryEscape(rd), nil, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != rd {
			t.Fatalf("signed out already: %d to %q, want straight to rd", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = c.request("GET", "/logout?rd="+url.QueryEscape("https://evil.example.net/"), nil, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("signed out, bad rd: %d to %q, want /login", resp.StatusCode, resp.Header.Get("Location"))
		}

		c.login(u.Email, "password123")
		c.page("/")
		resp = c.form("/logout", url.Values{"rd": {"https://evil.example.net/"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("sign out with a bad rd: %d to %q, want /login", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}
