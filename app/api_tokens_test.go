package app

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// bearer sends a request with Authorization: Bearer and nothing else: no
// cookie, no CSRF token.
func (a *testApp) bearer(token, method, path string, body string) *http.Response {
	a.t.Helper()
	var req *http.Request
	if body != "" {
		req, _ = http.NewRequest(method, testBase+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, _ = http.NewRequest(method, testBase+path, nil)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return a.do(req)
}

// createToken makes a token through the account or admin page's JSON,
// as a signed-in client, and returns its secret and id.
func createToken(t *testing.T, c *client, path, name string, scopes []string, expires string) (string, int64) {
	t.Helper()
	c.page(strings.TrimSuffix(path, "/tokens") + "/tokens")
	body, _ := json.Marshal(map[string]any{"name": name, "scopes": scopes, "expires": expires})
	resp := c.request("POST", path, strings.NewReader(string(body)), http.Header{
		"Accept": {"application/json"}, "Content-Type": {"application/json"}, "X-Csrf-Token": {c.csrf}})
	out := readBody(t, resp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create token %s: %d %s", name, resp.StatusCode, out)
	}
	var v struct {
		Secret string
		Token  struct{ ID int64 }
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.Secret, "sdt_") {
		t.Fatalf("secret %q lacks the sdt_ prefix", v.Secret)
	}
	return v.Secret, v.Token.ID
}

// TestAPITokens_ScopesAllowAndRefuse: each scope opens its routes and no
// others; a route tokens do not serve refuses every token.
func TestAPITokens_ScopesAllowAndRefuse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		testdb.CreateUser(t, db, "tok-admin@example.com", models.RoleAdmin)
		admin := a.client()
		admin.login("tok-admin@example.com", "password123")
		routes := []struct {
			scope, method, path, body string
			ok                        int
		}{
			{models.ScopeSessionsRead, "GET", "/admin/sessions", "", 200},
			{models.ScopeSessionsRead, "GET", "/account/sessions", "", 200},
			{models.ScopeSessionsWrite, "DELETE", "/admin/sessions/999999", "", 404},
			{models.ScopeUsersRead, "GET", "/admin/users", "", 200},
			{models.ScopeUsersWrite, "POST", "/admin/users", `{"email":"made-by-SCOPE@example.com","name":"Made","role":"user","password":"long-enough-pw"}`, 201},
			{models.ScopeAuditRead, "GET", "/admin/audit", "", 200},
		}
		secrets := map[string]string{}
		for _, sc := range models.Scopes {
			secrets[sc], _ = createToken(t, admin, "/admin/tokens", "only "+sc, []string{sc}, "30d")
		}
		for _, sc := range models.Scopes {
			for _, r := range routes {
				body := strings.ReplaceAll(r.body, "SCOPE", strings.ReplaceAll(sc, ":", "-"))
				resp := a.bearer(secrets[sc], r.method, r.path, body)
				got := readBody(t, resp)
				want := 403
				if r.scope == sc {
					want = r.ok
				}
				if resp.StatusCode != want {
					t.Errorf("token %s on %s %s: %d, want %d: %s", sc, r.method, r.path, resp.StatusCode, want, got)
				}
				if want == 403 && !strings.Contains(got, `"error"`) {
					t.Errorf("token %s on %s %s: refusal %q is not {error}", sc, r.method, r.path, got)
				}
			}
			resp := a.bearer(secrets[sc], "GET", "/api/me", "")
			if resp.StatusCode != 200 {
				t.Errorf("token %s on /api/me: %d", sc, resp.StatusCode)
			}
			resp.Body.Close()
			for _, p := range []string{"/admin/tokens", "/account/password", "/", "/admin/mail"} {
				resp := a.bearer(secrets[sc], "GET", p, "")
				if resp.StatusCode != 403 {
					t.Errorf("token %s on %s: %d, want 403", sc, p, resp.StatusCode)
				}
				resp.Body.Close()
			}
		}
		// A user's own token with users:read still cannot reach admin routes.
		testdb.CreateUser(t, db, "tok-user@example.com", models.RoleUser)
		user := a.client()
		user.login("tok-user@example.com", "password123")
		mine, _ := createToken(t, user, "/account/tokens", "mine", []string{models.ScopeUsersRead, models.ScopeSessionsRead}, "")
		if resp := a.bearer(mine, "GET", "/admin/users", ""); resp.StatusCode != 403 {
			t.Errorf("a user's token on /admin/users: %d, want 403", resp.StatusCode)
		}
		if resp := a.bearer(mine, "GET", "/account/sessions", ""); resp.StatusCode != 200 {
			t.Errorf("a user's token on /account/sessions: %d, want 200", resp.StatusCode)
		}
	})
}

// TestAPITokens_ExpiryRevocationOwnerAndCSRF: an expired, revoked, or
// orphaned token stops at once; a bearer needs no CSRF token while a
// cookie still does; the audit trail names the token.
func TestAPITokens_ExpiryRevocationOwnerAndCSRF(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		testdb.CreateUser(t, db, "life-admin@example.com", models.RoleAdmin)
		admin := a.client()
		admin.login("life-admin@example.com", "password123")

		// Bearer without CSRF: accepted, and audited with the token as actor.
		write, writeID := createToken(t, admin, "/admin/tokens", "writer", []string{models.ScopeUsersWrite}, "1h")
		resp := a.bearer(write, "POST", "/admin/users", `{"email":"by-token@example.com","name":"By Token","role":"user","password":"long-enough-pw"}`)
		if resp.StatusCode != 201 {
			t.Fatalf("bearer POST without CSRF: %d %s", resp.StatusCode, readBody(t, resp))
		}
		var ev models.Event
		if err := db.NewSelect().Model(&ev).Where("kind = ?", models.EventUserCreated).OrderExpr("id DESC").Limit(1).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		if ev.ActorTokenID == nil || *ev.ActorTokenID != writeID {
			t.Errorf("user.created actor token %v, want %d", ev.ActorTokenID, writeID)
		}
		var last models.APIToken
		if err := db.NewSelect().Model(&last).Where("id = ?", writeID).Scan(t.Context()); err != nil || last.LastUsedAt == nil || last.LastUsedIP == "" {
			t.Errorf("last used not noted: %+v %v", last, err)
		}
		// Cookie without CSRF: still refused.
		resp = admin.request("POST", "/admin/users", strings.NewReader(`{"email":"no-csrf@example.com","name":"X","role":"user","password":"long-enough-pw"}`),
			http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}})
		if resp.StatusCode != 403 {
			t.Errorf("cookie POST without CSRF: %d, want 403", resp.StatusCode)
		}
		resp.Body.Close()

		// Expiry.
		a.clock.Advance(61 * time.Minute)
		if resp := a.bearer(write, "GET", "/api/me", ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("expired token: %d %q, want 401 with WWW-Authenticate", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		admin.login("life-admin@example.com", "password123")

		// Revocation stops it on the next request.
		read, readID := createToken(t, admin, "/admin/tokens", "reader", []string{models.ScopeUsersRead}, "")
		if resp := a.bearer(read, "GET", "/admin/users", ""); resp.StatusCode != 200 {
			t.Fatalf("fresh token: %d", resp.StatusCode)
		}
		resp = admin.api("DELETE", "/admin/tokens/"+itoa(readID), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, readBody(t, resp))
		}
		if resp := a.bearer(read, "GET", "/admin/users", ""); resp.StatusCode != 401 {
			t.Errorf("revoked token: %d, want 401", resp.StatusCode)
		}
		if resp := admin.api("DELETE", "/admin/tokens/"+itoa(readID), nil); resp.StatusCode != 404 {
			t.Errorf("revoking twice: %d, want 404", resp.StatusCode)
		}

		// A token whose owner is deleted stops; so does a disabled owner's.
		testdb.CreateUser(t, db, "owner@example.com", models.RoleUser)
		owner := a.client()
		owner.login("owner@example.com", "password123")
		own, _ := createToken(t, owner, "/account/tokens", "owner's", []string{models.ScopeSessionsRead}, "")
		if resp := a.bearer(own, "GET", "/api/me", ""); resp.StatusCode != 200 {
			t.Fatalf("owner's token: %d", resp.StatusCode)
		}
		u, _ := models.FindUserByEmail(t.Context(), db, "owner@example.com")
		if _, err := models.DeleteUser(t.Context(), db, u.ID, models.Audit{}, a.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if resp := a.bearer(own, "GET", "/api/me", ""); resp.StatusCode != 401 {
			t.Errorf("deleted owner's token: %d, want 401", resp.StatusCode)
		}
		if n := countRows(t, db, "api_tokens", "user_id = ?", u.ID); n != 0 {
			t.Errorf("%d tokens of a deleted user remain", n)
		}
	})
}

// TestAPITokens_BadInput: malformed Authorization headers and unknown
// scopes are clear 4xx answers and store nothing.
func TestAPITokens_BadInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		testdb.CreateUser(t, db, "bad-admin@example.com", models.RoleAdmin)
		for _, h := range []struct {
			header string
			status int
		}{
			{"Bearer", 400}, {"Bearer ", 400}, {"Basic dXNlcjpwdw==", 400}, {"Bearer a b", 400}, {"Bearer\tx", 400},
			{"Bearer sdt_short", 401}, {"Bearer sdt_" + strings.Repeat("A", 43), 401}, {"bearer sdt_" + strings.Repeat("-", 43), 401},
			{"Bearer " + strings.Repeat("x", 43), 401}, {"Bearer not-a-session", 401},
		} {
			req, _ := http.NewRequest("GET", testBase+"/api/me", nil)
			req.Header.Set("Authorization", h.header)
			resp := a.do(req)
			body := readBody(t, resp)
			if resp.StatusCode != h.status || !strings.Contains(body, `"error"`) {
				t.Errorf("Authorization %q: %d %s, want %d {error}", h.header, resp.StatusCode, body, h.status)
			}
		}
		admin := a.client()
		admin.login("bad-admin@example.com", "password123")
		admin.page("/admin/tokens")
		for _, v := range []url.Values{
			{"name": {"x"}, "scopes": {"sessions:delete"}},
			{"name": {"x"}},
			{"name": {""}, "scopes": {"audit:read"}},
			{"name": {"x"}, "scopes": {"audit:read"}, "expires": {"soon"}},
			{"name": {"x"}, "scopes": {"audit:read"}, "expires": {"-3d"}},
		} {
			resp := admin.api("POST", "/admin/tokens", v)
			body := readBody(t, resp)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(body, `"error"`) {
				t.Errorf("create %v: %d %s", v, resp.StatusCode, body)
			}
		}
		if n := countRows(t, db, "api_tokens", ""); n != 0 {
			t.Errorf("%d tokens stored from bad input", n)
		}
		// The page form: checkboxes, the secret shown once.
		resp := admin.form("/admin/tokens", url.Values{"name": {"form"}, "scopes": {"audit:read", "users:read"}, "expires": {"7d"}})
		body := readBody(t, resp)
		if resp.StatusCode != 201 || !regexp.MustCompile(`<code>sdt_[A-Za-z0-9_-]{43}</code>`).MatchString(body) {
			t.Errorf("form create: %d, secret not shown", resp.StatusCode)
		}
		_, body = admin.page("/admin/tokens")
		if strings.Contains(body, "token-secret") || !strings.Contains(body, "audit:read, users:read") {
			t.Errorf("list page shows the secret again or lacks the scopes")
		}
	})
}

// TestCLI_Tokens_CreateListRevoke: the secret is printed once; the list
// never shows it; a revoked token stops.
func TestCLI_Tokens_CreateListRevoke(t *testing.T) {
	testdb.EachURL(t, func(t *testing.T, dbURL string) {
		env := map[string]string{"DATABASE_URL": dbURL}
		if _, err := runCLI(t, env, "pw-long-enough\n", "users", "create", "--email", "cli-tok@example.com", "--name", "C", "--role", "admin"); err != nil {
			t.Fatal(err)
		}
		out, err := runCLI(t, env, "", "tokens", "create", "--email", "cli-tok@example.com", "--name", "ci", "--scopes", "sessions:read,audit:read", "--expires", "30d")
		secret := regexp.MustCompile(`sdt_[A-Za-z0-9_-]{43}`).FindString(out)
		if err != nil || secret == "" {
			t.Fatalf("create: %v %s", err, out)
		}
		if _, err := runCLI(t, env, "", "tokens", "create", "--email", "cli-tok@example.com", "--name", "x", "--scopes", "root"); err == nil {
			t.Error("unknown scope accepted")
		}
		out, err = runCLI(t, env, "", "tokens", "list")
		if err != nil || !strings.Contains(out, "ci") || !strings.Contains(out, "sessions:read,audit:read") || strings.Contains(out, secret) {
			t.Fatalf("list: %v %s", err, out)
		}
		db := testdb.Open(t, dbURL)
		if _, err := models.FindAPIToken(t.Context(), db, secret, time.Now()); err != nil {
			t.Fatalf("the printed secret does not work: %v", err)
		}
		out, err = runCLI(t, env, "", "tokens", "revoke", "--id", "1")
		if err != nil || !strings.Contains(out, "revoked token 1") {
			t.Fatalf("revoke: %v %s", err, out)
		}
		if _, err := models.FindAPIToken(t.Context(), db, secret, time.Now()); err == nil {
			t.Error("revoked token still found")
		}
		if _, err := runCLI(t, env, "", "tokens", "revoke", "--id", "1"); err == nil {
			t.Error("revoking twice succeeded")
		}
	})
}
