package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"sessiond/models"
	"sessiond/models/testdb"
)

// postLogoutToken is the provider's back-channel call: no cookie, no CSRF
// token, a form with logout_token.
func postLogoutToken(a *testApp, key, token string) (*http.Response, string) {
	a.t.Helper()
	req, _ := http.NewRequest("POST", testBase+"/login/provider/"+key+"/backchannel-logout",
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := a.do(req)
	return resp, readBody(a.t, resp)
}

// TestBackchannelLogout_EndsMatchingSessions_RefusesBadTokens: a token the
// provider signed ends the sessions it names (by sid: that one; by sub:
// every session of that user through the provider), never a password
// session; a forged signature, another audience, no logout event, a nonce
// or no token at all is 400 and ends nothing.
func TestBackchannelLogout_EndsMatchingSessions_RefusesBadTokens(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		o := newTestOP(t, corpCallback, opAda)
		a := newTestApp(t, db, o.env("corp", map[string]string{"SIGNUP": "providers"}))
		phone, laptop, desk := a.client(), a.client(), a.client()
		if resp := phone.providerSignIn(o, "ada", nil); resp.StatusCode != http.StatusSeeOther { // signs Ada up
			t.Fatalf("sign-up: %d %s", resp.StatusCode, readBody(t, resp))
		}
		var u models.User
		if err := db.NewSelect().Model(&u).Where("email = ?", opAda.email).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		setPassword(t, db, u.ID, "password123") // (which ends her sessions)
		for _, c := range []*client{phone, laptop} {
			if resp := c.providerSignIn(o, "ada", nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in: %d %s", resp.StatusCode, readBody(t, resp))
			}
		}
		desk.login(u.Email, "password123")

		bad := []struct {
			name  string
			token string
		}{
			{"no token", ""},
			{"forged signature", o.forgedLogoutToken(opAda.id)},
			{"another audience", o.logoutToken(opAda.id, "", func(c *zoidc.LogoutTokenClaims) { c.Audience = zoidc.Audience{"another-client"} })},
			{"no logout event", o.logoutToken(opAda.id, "", func(c *zoidc.LogoutTokenClaims) { c.Events = nil })},
			{"a nonce (an ID token)", o.logoutToken(opAda.id, "", func(c *zoidc.LogoutTokenClaims) { c.Claims = map[string]any{"nonce": "n"} })},
			{"another issuer", o.logoutToken(opAda.id, "", func(c *zoidc.LogoutTokenClaims) { c.Issuer = "https://evil.example" })},
			{"neither sub nor sid", o.logoutToken("", "", nil)},
			{"not a JWT", "garbage.garbage.garbage"},
		}
		for _, tc := range bad {
			resp, body := postLogoutToken(a, "corp", tc.token)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
				t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
			}
			if !phone.signedIn() || !laptop.signedIn() || !desk.signedIn() {
				t.Fatalf("%s: a refused logout token ended a session", tc.name)
			}
		}

		var sid string
		if err := db.NewSelect().Table("sessions").Column("provider_sid").Where("provider = 'corp'").OrderExpr("id").Limit(1).Scan(t.Context(), &sid); err != nil {
			t.Fatal(err)
		}
		resp, body := postLogoutToken(a, "corp", o.logoutToken("", sid, nil))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"deleted":1`) {
			t.Fatalf("logout by sid: %d %s", resp.StatusCode, body)
		}
		if phone.signedIn() || !laptop.signedIn() {
			t.Fatal("logout by sid did not end exactly the first session")
		}
		resp, body = postLogoutToken(a, "corp", o.logoutToken(opAda.id, "", nil))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"deleted":1`) {
			t.Fatalf("logout by sub: %d %s", resp.StatusCode, body)
		}
		if laptop.signedIn() || !desk.signedIn() {
			t.Fatal("logout by sub must end the provider's sessions and only those")
		}
		if n := countRows(t, db, "session_events", "kind = ? AND detail = ?", models.EventSessionRevoked, "back-channel logout from corp"); n != 2 {
			t.Fatalf("%d revocation events", n)
		}
		if resp, _ := postLogoutToken(a, "nope", "x"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown provider: %d", resp.StatusCode)
		}
	})
}

func setPassword(t testing.TB, db *models.DB, userID int64, password string) {
	t.Helper()
	if _, err := models.SetUserPassword(t.Context(), db, userID, password, 0, models.Audit{}, time.Now()); err != nil {
		t.Fatal(err)
	}
}
