package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// sessionOf is the session row behind a client's cookie.
func sessionOf(t *testing.T, a *testApp, c *client) *models.Session {
	t.Helper()
	s, err := a.srv.Sessions().GetSession(context.Background(), c.cookie())
	if err != nil {
		t.Fatalf("session of client: %v", err)
	}
	return s
}

// htmx sends an htmx request with the client's CSRF header.
func (c *client) htmx(method, path string, v url.Values) *http.Response {
	c.app.t.Helper()
	h := http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {c.csrf}}
	var body *strings.Reader
	if v != nil {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		body = strings.NewReader(v.Encode())
		return c.request(method, path, body, h)
	}
	return c.request(method, path, nil, h)
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode JSON (status %d): %v", resp.StatusCode, err)
	}
}

func TestAccountSessions_ListsOnlyOwnSessions_MarksCurrent_JSONShape(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		alice := testdb.CreateUser(t, db, "alice@example.com", models.RoleUser)
		bob := testdb.CreateUser(t, db, "bob@example.com", models.RoleUser)
		c1, c2, b := a.client(), a.client(), a.client()
		c1.login(alice.Email, "password123")
		c2.login(alice.Email, "password123")
		b.login(bob.Email, "password123")
		s1, s2, sb := sessionOf(t, a, c1), sessionOf(t, a, c2), sessionOf(t, a, b)

		var got struct {
			Sessions []map[string]any `json:"sessions"`
			Total    int              `json:"total"`
		}
		resp := c1.api("GET", "/account/sessions", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		decodeJSON(t, resp, &got)
		if got.Total != 2 || len(got.Sessions) != 2 {
			t.Fatalf("want alice's 2 sessions, got %d (%v)", got.Total, got.Sessions)
		}
		current := 0
		for _, x := range got.Sessions {
			for _, k := range []string{"id", "sessionToken", "userId", "user", "createdAt", "lastSeenAt", "expires", "expiresIn", "status", "ip", "userAgent", "device", "current"} {
				if _, ok := x[k]; !ok {
					t.Fatalf("session JSON lacks %q: %v", k, x)
				}
			}
			id := int64(x["id"].(float64))
			if id == sb.ID || int64(x["userId"].(float64)) != alice.ID {
				t.Fatalf("bob's session listed for alice: %v", x)
			}
			if x["current"] == true {
				current++
				if id != s1.ID {
					t.Fatalf("current is %d, want %d", id, s1.ID)
				}
			}
			if tok := x["sessionToken"].(string); len(tok) != 12 || strings.Contains(c1.cookie()+c2.cookie(), tok) {
				t.Fatalf("sessionToken %q is not a short hash prefix", tok)
			}
			if x["status"] != "active" {
				t.Fatalf("status %v", x["status"])
			}
		}
		if current != 1 {
			t.Fatalf("%d sessions marked current", current)
		}

		resp, body := c1.page("/account/sessions")
		if resp.StatusCode != http.StatusOK || strings.Count(body, "This device") != 1 ||
			!strings.Contains(body, fmt.Sprintf(`id="account-session-%d"`, s2.ID)) ||
			strings.Contains(body, fmt.Sprintf(`id="account-session-%d"`, sb.ID)) ||
			strings.Contains(body, fmt.Sprintf(`hx-delete="/account/sessions/%d"`, s1.ID)) {
			t.Fatalf("page wrong (%d): %s", resp.StatusCode, body)
		}
		if !strings.Contains(body, `href="/account/sessions"`) || !strings.Contains(body, `href="/account/password"`) {
			t.Fatal("nav lacks the account links")
		}
	})
}

func TestAccountSessions_FragmentForHTMX_FullPageWhenBoostedOrRestoring(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, _ := a.signIn("frag@example.com", models.RoleUser)
		for _, tc := range []struct {
			name     string
			header   http.Header
			fragment bool
		}{
			{"htmx", http.Header{"Hx-Request": {"true"}}, true},
			{"boosted", http.Header{"Hx-Request": {"true"}, "Hx-Boosted": {"true"}}, false},
			{"history restore", http.Header{"Hx-Request": {"true"}, "Hx-History-Restore-Request": {"true"}}, false},
			{"browser", nil, false},
		} {
			resp := c.request("GET", "/account/sessions", nil, tc.header)
			body := strings.TrimSpace(readBody(t, resp))
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Vary"), "HX-Request") {
				t.Fatalf("%s: status %d, Vary %q", tc.name, resp.StatusCode, resp.Header.Get("Vary"))
			}
			isFragment := strings.HasPrefix(body, `<section id="account-sessions"`) && !strings.Contains(body, "<html")
			if isFragment != tc.fragment {
				t.Fatalf("%s: fragment=%v, want %v: %.200s", tc.name, isFragment, tc.fragment, body)
			}
			if !tc.fragment && !strings.Contains(body, `id="account-sessions"`) {
				t.Fatalf("%s: the page does not include the fragment", tc.name)
			}
		}
	})
}

func TestAccountSessions_AnotherUsersSessionID_404_AndItStaysAlive(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		alice := testdb.CreateUser(t, db, "a404@example.com", models.RoleUser)
		bob := testdb.CreateUser(t, db, "b404@example.com", models.RoleAdmin)
		c, b := a.client(), a.client()
		c.login(alice.Email, "password123")
		b.login(bob.Email, "password123")
		sb := sessionOf(t, a, b)
		for _, kind := range []string{"json", "htmx"} {
			var resp *http.Response
			if kind == "json" {
				resp = c.api("DELETE", fmt.Sprintf("/account/sessions/%d", sb.ID), nil)
			} else {
				resp = c.htmx("DELETE", fmt.Sprintf("/account/sessions/%d", sb.ID), nil)
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("%s: status %d, want 404: %s", kind, resp.StatusCode, body)
			}
		}
		if !b.signedIn() || countRows(t, db, "sessions", "id = ?", sb.ID) != 1 {
			t.Fatal("another user's session was revoked")
		}
		if n := countRows(t, db, "session_events", "kind = ?", models.EventSessionRevoked); n != 0 {
			t.Fatalf("%d revoke events recorded for a refused revoke", n)
		}
		// An unknown id is the same 404.
		resp := c.api("DELETE", "/account/sessions/999999", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown id: %d", resp.StatusCode)
		}
		resp.Body.Close()
	})
}

func TestAccountSessions_RevokingCurrentSession_400PointsToSignOut(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, _ := a.signIn("self@example.com", models.RoleUser)
		s := sessionOf(t, a, c)
		var e struct{ Error string }
		resp := c.api("DELETE", fmt.Sprintf("/account/sessions/%d", s.ID), nil)
		decodeJSON(t, resp, &e)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(strings.ToLower(e.Error), "sign out") {
			t.Fatalf("status %d, error %q", resp.StatusCode, e.Error)
		}
		if !c.signedIn() {
			t.Fatal("the current session ended")
		}
	})
}

func TestAccountSessions_BadID_400NamingTheParameter(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, _ := a.signIn("badid@example.com", models.RoleUser)
		for _, id := range []string{"abc", "0", "-1", "1.5", "1e3", "99999999999999999999"} {
			var e struct{ Error string }
			resp := c.api("DELETE", "/account/sessions/"+id, nil)
			decodeJSON(t, resp, &e)
			if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(e.Error, "id:") {
				t.Fatalf("id %q: %d %q", id, resp.StatusCode, e.Error)
			}
		}
	})
}

func TestAccountSessions_RevokeOwnOtherSession_HTMXGetsTableWithoutTheRowAndAToast(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "rev@example.com", models.RoleUser)
		c, other := a.client(), a.client()
		c.login(u.Email, "password123")
		other.login(u.Email, "password123")
		so := sessionOf(t, a, other)
		resp := c.htmx("DELETE", fmt.Sprintf("/account/sessions/%d", so.ID), nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, `<section id="account-sessions"`) ||
			strings.Contains(body, fmt.Sprintf("account-session-%d", so.ID)) ||
			!strings.Contains(body, `<div id="toast" hx-swap-oob="innerHTML">`) || !strings.Contains(body, "Signed out") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if other.signedIn() || !c.signedIn() {
			t.Fatal("wrong session ended")
		}
		if n := countRows(t, db, "session_events", "kind = ? AND session_id = ? AND actor_id = ?", models.EventSessionRevoked, so.ID, u.ID); n != 1 {
			t.Fatalf("revoke events: %d", n)
		}
		// Twice: the second is a 404.
		resp = c.api("DELETE", fmt.Sprintf("/account/sessions/%d", so.ID), nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("second revoke: %d", resp.StatusCode)
		}
		resp.Body.Close()
	})
}

func TestAccountSessions_SignOutAllOthers_ReturnsCount_KeepsCurrent_LeavesOtherUsers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "others@example.com", models.RoleUser)
		bob := testdb.CreateUser(t, db, "others-bob@example.com", models.RoleUser)
		c := a.client()
		c.login(u.Email, "password123")
		var others []*client
		for i := 0; i < 3; i++ {
			o := a.client()
			o.login(u.Email, "password123")
			others = append(others, o)
		}
		b := a.client()
		b.login(bob.Email, "password123")

		var got struct{ Deleted int }
		resp := c.api("POST", "/account/sessions/revoke-others", url.Values{})
		decodeJSON(t, resp, &got)
		if resp.StatusCode != http.StatusOK || got.Deleted != 3 {
			t.Fatalf("status %d, deleted %d, want 3", resp.StatusCode, got.Deleted)
		}
		for i, o := range others {
			if o.signedIn() {
				t.Fatalf("other session %d still signed in", i)
			}
		}
		if !c.signedIn() || !b.signedIn() {
			t.Fatal("the current session or another user's session ended")
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ? AND detail = ?", models.EventUserRevokeOthers, u.ID, "sessions=3"); n != 1 {
			t.Fatalf("revoke-others events: %d", n)
		}
		// htmx: the table and a toast that says how many (none left now).
		resp = c.htmx("POST", "/account/sessions/revoke-others", url.Values{})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, `<section id="account-sessions"`) || !strings.Contains(body, "no other sessions") {
			t.Fatalf("htmx: %d %s", resp.StatusCode, body)
		}
		// A plain form post (no JavaScript) gets the page with the notice.
		o := a.client()
		o.login(u.Email, "password123")
		resp = c.form("/account/sessions/revoke-others", nil)
		body = readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed out 1 other session.") || !strings.Contains(body, "<html") {
			t.Fatalf("form: %d %s", resp.StatusCode, body)
		}
	})
}

func TestAccountSessions_WithoutCSRFToken_403_NothingEnds(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "csrf-acct@example.com", models.RoleUser)
		c, other := a.client(), a.client()
		c.login(u.Email, "password123")
		other.login(u.Email, "password123")
		so := sessionOf(t, a, other)
		hash := sessionOf(t, a, c).TokenHash
		for _, r := range []struct{ method, path string }{
			{"DELETE", fmt.Sprintf("/account/sessions/%d", so.ID)},
			{"POST", "/account/sessions/revoke-others"},
			{"POST", "/account/password"},
		} {
			form := url.Values{"current_password": {"password123"}, "new_password": {"changed-password"}, "confirm": {"changed-password"}}
			resp := c.request(r.method, r.path, strings.NewReader(form.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}})
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s %s without CSRF: %d", r.method, r.path, resp.StatusCode)
			}
		}
		if !other.signedIn() || !c.signedIn() || sessionOf(t, a, c).TokenHash != hash {
			t.Fatal("a refused request changed a session")
		}
		c.page("/login")
		if resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("password changed by a refused request: sign-in %d", resp.StatusCode)
		}
	})
}

// changePassword posts the password form from the client's last page.
func changePassword(c *client, current, next, confirm string) *http.Response {
	c.app.t.Helper()
	c.page("/account/password")
	return c.form("/account/password", url.Values{"current_password": {current}, "new_password": {next}, "confirm": {confirm}})
}

func TestAccountPassword_Change_EndsOtherSessions_RotatesCookie_OldValueDead(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "pw@example.com", models.RoleUser)
		bob := testdb.CreateUser(t, db, "pw-bob@example.com", models.RoleUser)
		c, other, b := a.client(), a.client(), a.client()
		c.login(u.Email, "password123")
		other.login(u.Email, "password123")
		b.login(bob.Email, "password123")
		before := sessionOf(t, a, c)
		oldCookie := c.cookie()

		resp := changePassword(c, "password123", "a-brand-new-password", "a-brand-new-password")
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Password changed. Signed out 1 other session.") {
			t.Fatalf("change: %d %s", resp.StatusCode, body)
		}
		if c.cookie() == oldCookie || !models.WellFormedToken(c.cookie()) {
			t.Fatal("the current cookie value did not change")
		}
		after := sessionOf(t, a, c)
		if after.ID != before.ID || !after.ExpiresAt.Equal(before.ExpiresAt) {
			t.Fatalf("current session replaced instead of rotated: %d→%d", before.ID, after.ID)
		}
		if !c.signedIn() || other.signedIn() || !b.signedIn() {
			t.Fatalf("after change: current %v, other %v, another user %v", c.signedIn(), other.signedIn(), b.signedIn())
		}
		replay := a.client()
		replay.jar.SetCookies(mustURL(replay.base), []*http.Cookie{{Name: a.srv.cfg.CookieName(), Value: oldCookie}})
		if replay.signedIn() {
			t.Fatal("the old cookie value still signs in")
		}
		// The page after the change carries the rotated session's CSRF
		// token: the next state change from it works.
		m := csrfMeta.FindStringSubmatch(body)
		if m == nil || m[1] == c.csrf {
			t.Fatal("the page after the change kept the old session's CSRF token")
		}
		if resp := c.form("/account/sessions/revoke-others", url.Values{"_csrf": {m[1]}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("the new CSRF token does not work: %d", resp.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ? AND detail = ?", models.EventPasswordChanged, u.ID, "sessions=1"); n != 1 {
			t.Fatalf("password events: %d", n)
		}
		fresh := a.client()
		fresh.page("/login")
		if resp := fresh.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("old password still signs in: %d", resp.StatusCode)
		}
		fresh.login(u.Email, "a-brand-new-password")
	})
}

func TestAccountPassword_WrongCurrentOrBadNew_Refused_NothingChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "pw-wrong@example.com", models.RoleUser)
		c, other := a.client(), a.client()
		c.login(u.Email, "password123")
		other.login(u.Email, "password123")
		cookie := c.cookie()
		state := snapshot(t, db)
		for _, tc := range []struct {
			name, current, next, confirm string
			status                       int
			says                         string
		}{
			{"wrong current", "not-my-password", "another-password", "another-password", 422, "current_password"},
			{"missing current", "", "another-password", "another-password", 400, "current_password"},
			{"confirm differs", "password123", "another-password", "another-passwort", 422, "confirm"},
			{"new too short", "password123", "short", "short", 422, "new_password"},
			{"new too long", "password123", strings.Repeat("x", 1025), strings.Repeat("x", 1025), 422, "new_password"},
			{"current too long", strings.Repeat("x", 2000), "another-password", "another-password", 400, "current_password"},
		} {
			resp := changePassword(c, tc.current, tc.next, tc.confirm)
			body := readBody(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) || !strings.Contains(body, `role="alert"`) {
				t.Fatalf("%s: %d, want %d mentioning %q: %.300s", tc.name, resp.StatusCode, tc.status, tc.says, body)
			}
			var e struct{ Error string }
			c.page("/account/password")
			resp = c.api("POST", "/account/password", url.Values{"current_password": {tc.current}, "new_password": {tc.next}, "confirm": {tc.confirm}})
			decodeJSON(t, resp, &e)
			if resp.StatusCode != tc.status || !strings.Contains(e.Error, tc.says) {
				t.Fatalf("%s (json): %d %q", tc.name, resp.StatusCode, e.Error)
			}
		}
		if snapshot(t, db) != state || c.cookie() != cookie || !other.signedIn() || !c.signedIn() {
			t.Fatal("a refused password change changed something")
		}
		if n := countRows(t, db, "session_events", "kind = ?", models.EventPasswordChanged); n != 0 {
			t.Fatalf("%d password events for refused changes", n)
		}
		// The two wrong guesses (form and JSON) are in the audit trail.
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ? AND detail LIKE ?", models.EventSignInFailed, u.ID, "password change%"); n != 2 {
			t.Fatalf("%d failed-attempt events, want 2", n)
		}
	})
}

func TestAccountPassword_WrongCurrentPassword_IsThrottledWithSignIn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, _ := a.signIn("pw-throttle@example.com", models.RoleUser)
		c.page("/account/password")
		statuses := map[int]int{}
		for i := 0; i < 12; i++ {
			resp := c.api("POST", "/account/password", url.Values{"current_password": {fmt.Sprintf("guess-%d", i)}, "new_password": {"another-password"}, "confirm": {"another-password"}})
			resp.Body.Close()
			statuses[resp.StatusCode]++
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
		if statuses[422] != 10 || statuses[429] != 2 {
			t.Fatalf("statuses %v, want 10×422 then 429", statuses)
		}
		// Even the right password waits out the window now.
		resp := c.api("POST", "/account/password", url.Values{"current_password": {"password123"}, "new_password": {"another-password"}, "confirm": {"another-password"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("right password during lockout: %d", resp.StatusCode)
		}
	})
}
