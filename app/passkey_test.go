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

// jsonPost posts a raw JSON body with the client's CSRF header.
func (c *client) jsonPost(path, body string, extra ...string) *http.Response {
	c.app.t.Helper()
	h := http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}, "X-Csrf-Token": {c.csrf}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return c.request("POST", path, strings.NewReader(body), h)
}

func statusAndError(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	var e struct{ Error string }
	decodeJSON(t, resp, &e)
	return resp.StatusCode, e.Error
}

// TestPasskeys_BadInput_ClearErrorNothingChanged: malformed WebAuthn JSON,
// answers without a ceremony, a ceremony over 5 minutes old and a
// cross-origin start all get a 4xx with a message, and no passkey,
// session or pending sign-in comes of them.
func TestPasskeys_BadInput_ClearErrorNothingChanged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"BASE_URL": "http://localhost:8080"})
		c, u := a.signIn("pk-bad@example.com", models.RoleUser)
		c.page("/account/security")
		resp := c.jsonPost("/account/passkeys/options", "")
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"rp":{"name":"sessiond","id":"localhost"}`) || !strings.Contains(body, `"residentKey":"required"`) {
			t.Fatalf("registration options: %d %s", resp.StatusCode, body)
		}
		fake := `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`
		for _, tc := range []struct {
			body, want string
			status     int
		}{
			{`not json`, "want JSON", 400},
			{`{"name":"x"}`, "want JSON", 400},
			{`{"credential":5}`, "credential:", 400},
			{`{"credential":{"id":"x"}}`, "credential:", 400},
			{`{"credential":` + fake + `}`, "credential:", 400},
			{`{"name":"` + strings.Repeat("n", 65) + `","credential":{}}`, "name:", 422},
		} {
			status, msg := statusAndError(t, c.jsonPost("/account/passkeys", tc.body))
			if status != tc.status || !strings.Contains(msg, tc.want) {
				t.Fatalf("register %.40q: %d %q, want %d %q", tc.body, status, msg, tc.status, tc.want)
			}
		}
		if n := countRows(t, db, "factors", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("bad registrations stored %d factors", n)
		}

		// Sign-in side, before anyone is signed in.
		v := a.client()
		v.page("/login")
		for _, path := range []string{"/login/passkey", "/login/passkey/options?for=second-factor"} {
			if status, msg := statusAndError(t, v.jsonPost(path, "{}")); status != 401 || !strings.Contains(msg, "sign in again") {
				t.Fatalf("%s without a sign-in under way: %d %q", path, status, msg)
			}
		}
		if status, _ := statusAndError(t, v.jsonPost("/login/passkey/options", "", "Origin", "http://evil.example")); status != 403 {
			t.Fatalf("cross-origin start: %d, want 403", status)
		}
		if n := countRows(t, db, "pending_signins", "purpose = ?", models.PendingPasskey); n != 0 {
			t.Fatalf("refused starts left %d pending sign-ins", n)
		}
		resp = v.jsonPost("/login/passkey/options", "")
		if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"userVerification":"required"`) {
			t.Fatalf("passkey sign-in options: %d %s", resp.StatusCode, body)
		}
		for _, tc := range []struct {
			body, want string
			status     int
		}{
			{`{`, "credential:", 400},
			{`[]`, "credential:", 400},
			{`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA","userHandle":"AAAA"}}`, "credential:", 400},
		} {
			if status, msg := statusAndError(t, v.jsonPost("/login/passkey", tc.body)); status != tc.status || !strings.Contains(msg, tc.want) {
				t.Fatalf("sign in with %.30q: %d %q", tc.body, status, msg)
			}
		}
		a.clock.Advance(models.PendingSignInTTL + time.Second)
		if status, msg := statusAndError(t, v.jsonPost("/login/passkey", "{}")); status != 401 || !strings.Contains(msg, "expired") {
			t.Fatalf("after 5 minutes: %d %q", status, msg)
		}
		if v.signedIn() || countRows(t, db, "sessions", "user_id = ?", u.ID) != 1 {
			t.Fatal("bad passkey sign-ins made a session")
		}
		// Renaming checks its input too.
		c.page("/account/security")
		if resp := c.api("POST", "/account/factors/999/name", url.Values{"name": {"x"}}); resp.StatusCode != 404 {
			t.Fatalf("rename an unknown passkey: %d", resp.StatusCode)
		}
		if resp := c.api("POST", "/account/factors/abc/name", url.Values{"name": {"x"}}); resp.StatusCode != 400 {
			t.Fatalf("rename with a bad id: %d", resp.StatusCode)
		}
	})
}

// TestPasskeyStart_LimitedPerIP: a passwordless passkey start holds a
// challenge before anyone is known, so one address gets 60 in a window;
// the next is 429 with Retry-After and holds nothing, and another address
// is not affected.
func TestPasskeyStart_LimitedPerIP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"BASE_URL": "http://localhost:8080"})
		v := a.client()
		v.page("/login")
		for i := range 60 {
			if resp := v.jsonPost("/login/passkey/options", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("start %d: %d %s", i+1, resp.StatusCode, readBody(t, resp))
			}
		}
		held := countRows(t, db, "pending_signins", "purpose = ?", models.PendingPasskey)
		resp := v.jsonPost("/login/passkey/options", "")
		status, msg := statusAndError(t, resp)
		if status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(msg, "too many passkey sign-ins") {
			t.Fatalf("61st start: %d %q Retry-After %q", status, msg, resp.Header.Get("Retry-After"))
		}
		if n := countRows(t, db, "pending_signins", "purpose = ?", models.PendingPasskey); n != held {
			t.Fatalf("a refused start held a challenge: %d rows, had %d", n, held)
		}
		a.clock.Advance(models.LoginWindow + time.Second)
		if resp := v.jsonPost("/login/passkey/options", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("after the window: %d", resp.StatusCode)
		}
	})
}
