package app

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// The test provider's people: Ada has a verified address, Bob has not.
var (
	opAda = opUser{id: "ada-sub", username: "ada", email: "ada@example.com", verified: true, name: "Ada Lovelace", groups: []string{"staff", "sessiond-admins"}}
	opBob = opUser{id: "bob-sub", username: "bob", email: "bob@example.com", verified: false, name: "Bob Builder", groups: []string{"staff"}}
)

const corpCallback = testBase + "/login/provider/corp/callback"

// startProvider presses "Sign in with Test OP" and returns where sessiond
// sends the browser.
func (c *client) startProvider(key, next string) *http.Response {
	c.app.t.Helper()
	c.page("/login")
	v := url.Values{}
	if next != "" {
		v.Set("next", next)
	}
	return c.form("/login/provider/"+key, v)
}

// providerSignIn signs in at the test provider as username and comes back
// to sessiond's callback; tamper may change the authorization URL on the
// way there and the callback URL on the way back.
func (c *client) providerSignIn(o *testOP, username string, tamper func(authURL, callback *url.URL)) *http.Response {
	c.app.t.Helper()
	resp := c.startProvider("corp", "/account/sessions")
	if resp.StatusCode != http.StatusSeeOther {
		c.app.t.Fatalf("start: status %d: %s", resp.StatusCode, readBody(c.app.t, resp))
	}
	authURL, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(authURL.String(), o.issuer) {
		c.app.t.Fatalf("start redirects to %q, not the provider", resp.Header.Get("Location"))
	}
	back := o.authorize(authURL.String(), username)
	if tamper != nil {
		tamper(authURL, back)
		back = o.authorize(authURL.String(), username)
		tamper(authURL, back)
	}
	if !strings.HasPrefix(back.String(), corpCallback) {
		c.app.t.Fatalf("provider sends the browser to %s", back)
	}
	return c.request("GET", strings.TrimPrefix(back.String(), testBase), nil, nil)
}

// TestProviderSignIn_LinkedAccount_SessionRecordsProviderAndSID: the
// user who linked the account is signed in; the session says fed and the
// provider, with the provider's sid, and the audit trail says so too.
func TestProviderSignIn_LinkedAccount_SessionRecordsProviderAndSID(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		o := newTestOP(t, corpCallback, opAda)
		a := newTestApp(t, db, o.env("corp", nil))
		u := testdb.CreateUser(t, db, "someone-else@example.com", models.RoleUser)
		linkAccount(t, db, u.ID, "corp", opAda.id)

		c := a.client()
		resp := c.providerSignIn(o, "ada", nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/sessions" {
			t.Fatalf("callback: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), readBody(t, resp))
		}
		if !c.signedIn() {
			t.Fatal("not signed in after the provider's callback")
		}
		var sess models.Session
		if err := db.NewSelect().Model(&sess).Where("user_id = ?", u.ID).Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sess.AMR != models.MethodFederated || sess.Provider != "corp" || !strings.HasPrefix(sess.ProviderSID, "op-session-") {
			t.Fatalf("session amr %q provider %q sid %q", sess.AMR, sess.Provider, sess.ProviderSID)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND detail = ?", models.EventSessionCreated, "amr=fed provider=corp"); n != 1 {
			t.Fatalf("%d session.created events name the provider", n)
		}
	})
}

// TestProviderSignIn_WhoGetsIn is the table of linking and sign-up rules:
// the verified-email link, SIGNUP, allowed domains. A refusal says why,
// creates no user, links nothing and starts no session.
func TestProviderSignIn_WhoGetsIn(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		existing string // a user with this email exists beforehand
		who      string
		status   int
		message  string
		linked   bool // the provider account ends up linked to a user
	}{
		{"existing email, linking off", nil, "ada@example.com", "ada", http.StatusConflict, "already exists", false},
		{"existing email, linking on, verified", map[string]string{"OIDC_LINK_BY_EMAIL": "true"}, "ada@example.com", "ada", http.StatusSeeOther, "", true},
		{"existing email, linking on, unverified", map[string]string{"OIDC_LINK_BY_EMAIL": "true"}, "bob@example.com", "bob", http.StatusConflict, "already exists", false},
		{"existing email, linking on, other domain", map[string]string{"OIDC_LINK_BY_EMAIL": "true", "OIDC_ALLOWED_DOMAINS": "corp.example"}, "ada@example.com", "ada", http.StatusConflict, "already exists", false},
		{"unknown, sign-up off", nil, "", "ada", http.StatusForbidden, "sign-up is closed", false},
		{"unknown, sign-up by providers", map[string]string{"SIGNUP": "providers"}, "", "ada", http.StatusSeeOther, "", true},
		{"unknown, sign-up, domain allowed", map[string]string{"SIGNUP": "providers", "OIDC_ALLOWED_DOMAINS": "example.com"}, "", "ada", http.StatusSeeOther, "", true},
		{"unknown, sign-up, domain not allowed", map[string]string{"SIGNUP": "all", "OIDC_ALLOWED_DOMAINS": "corp.example"}, "", "ada", http.StatusForbidden, "only to addresses at corp.example", false},
		{"unknown, sign-up, unverified email", map[string]string{"SIGNUP": "providers"}, "", "bob", http.StatusForbidden, "has not verified", false},
	}
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		o := newTestOP(t, corpCallback, opAda, opBob)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				clearUsers(t, db)
				a := newTestApp(t, db, o.env("corp", tc.env))
				if tc.existing != "" {
					testdb.CreateUser(t, db, tc.existing, models.RoleUser)
				}
				usersBefore := countRows(t, db, "users", "")
				c := a.client()
				resp := c.providerSignIn(o, tc.who, nil)
				body := readBody(t, resp)
				if resp.StatusCode != tc.status || !strings.Contains(body, tc.message) {
					t.Fatalf("status %d, want %d with %q: %s", resp.StatusCode, tc.status, tc.message, body)
				}
				if got := countRows(t, db, "accounts", "provider = 'corp'") == 1; got != tc.linked {
					t.Fatalf("account linked: %v, want %v", got, tc.linked)
				}
				if tc.status != http.StatusSeeOther {
					if c.signedIn() || countRows(t, db, "sessions", "") != 0 || countRows(t, db, "users", "") != usersBefore {
						t.Fatal("a refused sign-in left a session or a user")
					}
					return
				}
				if !c.signedIn() {
					t.Fatal("not signed in")
				}
				if tc.existing == "" {
					var u models.User
					if err := db.NewSelect().Model(&u).Where("email = ?", "ada@example.com").Scan(context.Background()); err != nil {
						t.Fatal(err)
					}
					if u.HasPassword() || u.Name != "Ada Lovelace" || u.Role != models.RoleUser {
						t.Fatalf("signed-up user: password %v, name %q, role %q", u.HasPassword(), u.Name, u.Role)
					}
				}
			})
		}
	})
}

// TestProviderSignIn_AdminGroup_SetsRoleAtEachSignIn: in the group, an
// admin; out of it at a later sign-in, a user again (while another admin
// exists: the last active admin keeps the role).
func TestProviderSignIn_AdminGroup_SetsRoleAtEachSignIn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		o := newTestOP(t, corpCallback, opAda)
		a := newTestApp(t, db, o.env("corp", map[string]string{"SIGNUP": "providers", "OIDC_CORP_ADMIN_GROUP": "sessiond-admins"}))
		c := a.client()
		if resp := c.providerSignIn(o, "ada", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d %s", resp.StatusCode, readBody(t, resp))
		}
		if resp := c.request("GET", "/admin/sessions", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("a member of the admin group gets %d from /admin/sessions", resp.StatusCode)
		}
		o.storage.groups[opAda.id] = []string{"staff"}
		solo := a.client()
		if resp := solo.providerSignIn(o, "ada", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in as the last admin: %d", resp.StatusCode)
		}
		if resp := solo.request("GET", "/admin/sessions", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("the last active admin was demoted by the provider's groups: %d", resp.StatusCode)
		}
		testdb.CreateUser(t, db, "second-admin@example.com", models.RoleAdmin)
		c2 := a.client()
		if resp := c2.providerSignIn(o, "ada", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d", resp.StatusCode)
		}
		if resp := c2.request("GET", "/admin/sessions", nil, nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("after leaving the group: /admin/sessions %d, want 403", resp.StatusCode)
		}
		if c.signedIn() {
			t.Fatal("the admin session outlived the role change")
		}
	})
}

// TestProviderSignIn_TamperedOrStale_Refused: a changed state, a changed
// nonce, a replayed callback, a callback in another browser, an expired ID
// token and a provider that says no all end without a session.
func TestProviderSignIn_TamperedOrStale_Refused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		o := newTestOP(t, corpCallback, opAda)
		a := newTestApp(t, db, o.env("corp", map[string]string{"SIGNUP": "providers"}))
		refused := func(t *testing.T, c *client, resp *http.Response, status int, msg string) {
			t.Helper()
			body := readBody(t, resp)
			if resp.StatusCode != status || !strings.Contains(body, msg) {
				t.Fatalf("status %d, want %d with %q: %s", resp.StatusCode, status, msg, body)
			}
			if c.signedIn() || countRows(t, db, "sessions", "") != 0 {
				t.Fatal("signed in anyway")
			}
		}
		t.Run("state changed on the way back", func(t *testing.T) {
			c := a.client()
			resp := c.providerSignIn(o, "ada", func(_, back *url.URL) {
				q := back.Query()
				q.Set("state", "forged"+q.Get("state"))
				back.RawQuery = q.Encode()
			})
			refused(t, c, resp, http.StatusBadRequest, "state")
		})
		t.Run("nonce changed on the way there", func(t *testing.T) {
			c := a.client()
			resp := c.providerSignIn(o, "ada", func(auth, _ *url.URL) {
				q := auth.Query()
				q.Set("nonce", "attacker-nonce")
				auth.RawQuery = q.Encode()
			})
			refused(t, c, resp, http.StatusUnauthorized, "could not be verified")
		})
		t.Run("callback replayed", func(t *testing.T) {
			c := a.client()
			resp := c.startProvider("corp", "")
			back := o.authorize(resp.Header.Get("Location"), "ada")
			path := strings.TrimPrefix(back.String(), testBase)
			if first := c.request("GET", path, nil, nil); first.StatusCode != http.StatusSeeOther {
				t.Fatalf("first callback %d", first.StatusCode)
			}
			c.page("/")
			if out := c.form("/logout", nil); out.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign out: %d", out.StatusCode)
			}
			refused(t, c, c.request("GET", path, nil, nil), http.StatusBadRequest, "not under way")
		})
		t.Run("callback in another browser", func(t *testing.T) {
			c := a.client()
			resp := c.startProvider("corp", "")
			back := o.authorize(resp.Header.Get("Location"), "ada")
			other := a.client()
			refused(t, other, other.request("GET", strings.TrimPrefix(back.String(), testBase), nil, nil), http.StatusBadRequest, "not under way")
		})
		t.Run("ID token expired", func(t *testing.T) {
			o.storage.idTokenLifetime = time.Minute
			defer func() { o.storage.idTokenLifetime = 0 }()
			c := a.client()
			resp := c.startProvider("corp", "")
			back := o.authorize(resp.Header.Get("Location"), "ada")
			a.clock.Advance(5 * time.Minute) // the round trip is still open, the token is not
			refused(t, c, c.request("GET", strings.TrimPrefix(back.String(), testBase), nil, nil), http.StatusUnauthorized, "could not be verified")
			if !strings.Contains(a.logs.String(), "token is expired") {
				t.Fatal("the log does not say the ID token had expired")
			}
		})
		t.Run("provider says no", func(t *testing.T) {
			c := a.client()
			resp := c.startProvider("corp", "")
			auth, _ := url.Parse(resp.Header.Get("Location"))
			path := "/login/provider/corp/callback?error=access_denied&state=" + url.QueryEscape(auth.Query().Get("state"))
			refused(t, c, c.request("GET", path, nil, nil), http.StatusUnauthorized, "did not sign you in (access_denied)")
		})
	})
}

// TestProviderStart_ProviderDown_503: a provider that cannot be reached
// (discovery fails) is a 503 that says so, and sessiond still serves.
func TestProviderStart_ProviderDown_503(t *testing.T) {
	db := testdb.SQLite(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	a := newTestApp(t, db, map[string]string{"BASE_URL": testBase, "OIDC_PROVIDERS": "corp", "OIDC_CORP_ISSUER": dead,
		"OIDC_CORP_CLIENT_ID": "x", "OIDC_CORP_CLIENT_SECRET": "y"})
	c := a.client()
	resp := c.startProvider("corp", "")
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "cannot be reached") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if resp := c.startProvider("nope", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown provider: %d", resp.StatusCode)
	}
	if n := countRows(t, db, "pending_signins", ""); n != 0 {
		t.Fatalf("%d round trips kept for providers that were not reached", n)
	}
}

func linkAccount(t testing.TB, db *models.DB, userID int64, provider, subject string) {
	t.Helper()
	err := models.LinkAccount(context.Background(), db, &models.Account{UserID: userID, Provider: provider, Subject: subject}, models.Audit{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
}

func clearUsers(t testing.TB, db *models.DB) {
	t.Helper()
	if _, err := db.NewDelete().Table("users").Where("1 = 1").Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}
