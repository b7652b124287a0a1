package app

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// nativeSignIn posts JSON to /api/sessions as a native client would: no
// cookie, no CSRF token.
func (a *testApp) nativeSignIn(body string) (*http.Response, map[string]any) {
	a.t.Helper()
	req, _ := http.NewRequest("POST", testBase+"/api/sessions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp := a.do(req)
	var v map[string]any
	_ = json.Unmarshal([]byte(readBody(a.t, resp)), &v)
	return resp, v
}

// TestAPISessions_SignInBearerVerifySignOut: the token from POST
// /api/sessions works as a bearer on /api/me and /auth/verify, nowhere
// else, and DELETE /api/sessions/current ends it.
func TestAPISessions_SignInBearerVerifySignOut(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		testdb.CreateUser(t, db, "native@example.com", models.RoleUser)
		resp, v := a.nativeSignIn(`{"email":"Native@Example.com","password":"password123"}`)
		if resp.StatusCode != 201 || v["token"] == nil || v["expires"] == nil || len(resp.Cookies()) != 0 {
			t.Fatalf("sign in: %d %v cookies %v", resp.StatusCode, v, resp.Cookies())
		}
		token := v["token"].(string)
		me := a.bearer(token, "GET", "/api/me", "")
		body := readBody(t, me)
		if me.StatusCode != 200 || !strings.Contains(body, `"native@example.com"`) {
			t.Fatalf("/api/me with the session token: %d %s", me.StatusCode, body)
		}
		verify := a.bearer(token, "GET", "/auth/verify", "")
		if verify.StatusCode != 200 || verify.Header.Get("Remote-Email") != "native@example.com" {
			t.Fatalf("/auth/verify with the session token: %d %q", verify.StatusCode, verify.Header.Get("Remote-Email"))
		}
		if r := a.bearer(token, "GET", "/account/sessions", ""); r.StatusCode != 403 {
			t.Errorf("session token on /account/sessions: %d, want 403", r.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind = ?", models.EventSessionCreated); n != 1 {
			t.Errorf("%d session.created events, want 1", n)
		}
		out := a.bearer(token, "DELETE", "/api/sessions/current", "")
		if body := readBody(t, out); out.StatusCode != 200 || !strings.Contains(body, `"deleted":1`) {
			t.Fatalf("sign out: %d %s", out.StatusCode, body)
		}
		for _, p := range []string{"/api/me", "/auth/verify"} {
			if r := a.bearer(token, "GET", p, ""); r.StatusCode != 401 {
				t.Errorf("%s after sign-out: %d, want 401", p, r.StatusCode)
			}
		}

		// A cookie client signs out here too, but only with its CSRF token.
		c := a.client()
		c.login("native@example.com", "password123")
		r := c.request("DELETE", "/api/sessions/current", nil, http.Header{"Accept": {"application/json"}})
		if r.StatusCode != 403 || !c.signedIn() {
			t.Fatalf("cookie sign-out without CSRF: %d, still signed in %v", r.StatusCode, c.signedIn())
		}
		if r := c.api("DELETE", "/api/sessions/current", nil); r.StatusCode != 200 || c.signedIn() {
			t.Fatalf("cookie sign-out with CSRF: %d", r.StatusCode)
		}
	})
}

// TestAPISessions_ThrottledLikeTheForm: failures through the API and the
// form count together; bad bodies are clear 4xx answers.
func TestAPISessions_ThrottledLikeTheForm(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "native-throttle@example.com", models.RoleUser)
		c := a.client()
		c.page("/login")
		for i := 0; i < 10; i++ {
			var status int
			if i%2 == 0 {
				resp, _ := a.nativeSignIn(`{"email":"native-throttle@example.com","password":"wrong-password"}`)
				status = resp.StatusCode
			} else {
				resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"wrong-password"}})
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status != 401 {
				t.Fatalf("attempt %d: %d", i, status)
			}
		}
		resp, v := a.nativeSignIn(`{"email":"native-throttle@example.com","password":"password123"}`)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || v["error"] == nil {
			t.Fatalf("after 10 failures, API: %d %v", resp.StatusCode, v)
		}
		form := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}})
		form.Body.Close()
		if form.StatusCode != 429 {
			t.Fatalf("after 10 failures, form: %d", form.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind = ?", models.EventSignInFailed); n != 10 {
			t.Errorf("%d signin.failed events, want 10", n)
		}

		for _, bad := range []struct {
			body, ctype string
			status      int
		}{
			{`{"email":"x@example.com"`, "application/json", 400},
			{`[]`, "application/json", 400},
			{`{"email":"","password":""}`, "application/json", 400},
			{`email=a&password=b`, "application/x-www-form-urlencoded", 415},
		} {
			req, _ := http.NewRequest("POST", testBase+"/api/sessions", strings.NewReader(bad.body))
			req.Header.Set("Content-Type", bad.ctype)
			resp := a.do(req)
			body := readBody(t, resp)
			if resp.StatusCode != bad.status || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %q: %d %s, want %d", bad.ctype, bad.body, resp.StatusCode, body, bad.status)
			}
		}
		// Cross-site is still refused, JSON or not.
		req, _ := http.NewRequest("POST", testBase+"/api/sessions", strings.NewReader(`{"email":"a@b.c","password":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://evil.example")
		if resp := a.do(req); resp.StatusCode != 403 {
			t.Errorf("cross-origin native sign-in: %d, want 403", resp.StatusCode)
		}
	})
}

// TestAPISessions_SecondFactor: a user with an authenticator app must
// send its code; the session records both methods.
func TestAPISessions_SecondFactor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		testdb.CreateUser(t, db, "native-2fa@example.com", models.RoleUser)
		c := a.client()
		c.login("native-2fa@example.com", "password123")
		secret, _ := enrolTOTP(t, a, c)
		resp, v := a.nativeSignIn(`{"email":"native-2fa@example.com","password":"password123"}`)
		if resp.StatusCode != 401 || v["secondFactor"] != true {
			t.Fatalf("no code: %d %v", resp.StatusCode, v)
		}
		resp, v = a.nativeSignIn(`{"email":"native-2fa@example.com","password":"password123","code":"000000"}`)
		if resp.StatusCode != 401 || v["error"] == nil {
			t.Fatalf("wrong code: %d %v", resp.StatusCode, v)
		}
		a.clock.Advance(31e9)
		code := codeAt(t, secret, a.clock.Now())
		resp, v = a.nativeSignIn(`{"email":"native-2fa@example.com","password":"password123","code":"` + code + `"}`)
		if resp.StatusCode != 201 || v["token"] == nil {
			t.Fatalf("right code: %d %v", resp.StatusCode, v)
		}
		amr, _ := json.Marshal(v["amr"])
		if !strings.Contains(string(amr), "otp") {
			t.Errorf("amr %s lacks otp", amr)
		}
	})
}
