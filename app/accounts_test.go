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

func TestAdmin_DisableUser_EndsSessionsAtOnce_RefusesSignInAndForwardAuth_UntilEnabled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admin := testdb.CreateUser(t, db, "root@example.test", "admin")
		user := testdb.CreateUser(t, db, "eve@example.test", "user")
		ac, uc := a.client(), a.client()
		ac.login(admin.Email, "password123")
		uc.login(user.Email, "password123")

		resp := ac.api("POST", "/admin/users/"+itoa(user.ID)+"/disable", url.Values{})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"deleted":1`) {
			t.Fatalf("disable: %d %s", resp.StatusCode, body)
		}
		if uc.signedIn() {
			t.Fatal("the disabled user's session still works")
		}
		if resp := uc.request("GET", "/auth/verify", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forward-auth for a disabled user: %d, want 401", resp.StatusCode)
		}
		uc.page("/login")
		resp = uc.form("/login", url.Values{"email": {user.Email}, "password": {"password123"}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "disabled") {
			t.Fatalf("sign-in while disabled: %d, want 403 saying so: %s", resp.StatusCode, body)
		}
		_, body := ac.page("/admin/users")
		if !strings.Contains(body, `badge-disabled`) {
			t.Fatal("the users list shows no Disabled badge")
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ?", models.EventUserDisabled, user.ID); n != 1 {
			t.Fatalf("%d disable events", n)
		}
		if resp := ac.api("POST", "/admin/users/"+itoa(user.ID)+"/enable", url.Values{}); resp.StatusCode != http.StatusOK {
			t.Fatalf("enable: %d", resp.StatusCode)
		}
		uc.login(user.Email, "password123")
	})
}

func TestLastActiveAdmin_CannotBeDeletedDemotedOrDisabled_FromAnyDoor(t *testing.T) {
	for name, dbURL := range map[string]func(testing.TB) string{"sqlite": testdb.SQLiteURL, "postgres": testdb.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": dbURL(t)}
			if _, err := runCLI(t, env, "", "users", "create", "--email", "only@example.test", "--name", "Only", "--role", "admin", "--password", "password123"); err != nil {
				t.Fatal(err)
			}
			if _, err := runCLI(t, env, "", "users", "create", "--email", "two@example.test", "--name", "Two", "--role", "admin", "--password", "password123"); err != nil {
				t.Fatal(err)
			}
			// With two active admins one may go.
			if out, err := runCLI(t, env, "", "users", "disable", "--email", "two@example.test"); err != nil {
				t.Fatalf("disable the second admin: %v %s", err, out)
			}
			for _, args := range [][]string{
				{"users", "delete", "--email", "only@example.test"},
				{"users", "set-role", "--email", "only@example.test", "--role", "user"},
				{"users", "disable", "--email", "only@example.test"},
			} {
				out, err := runCLI(t, env, "", args...)
				if err == nil || !strings.Contains(err.Error()+out, "last active admin") {
					t.Errorf("%v: %v %s, want a refusal naming the last active admin", args, err, out)
				}
			}
			db := testdb.Open(t, env["DATABASE_URL"])
			a := newTestApp(t, db, nil)
			c := a.client()
			c.login("only@example.test", "password123")
			two, _ := models.FindUserByEmail(t.Context(), db, "two@example.test")
			// JSON: enabling the other admin is fine, and then demoting them too.
			if resp := c.api("POST", "/admin/users/"+itoa(two.ID)+"/enable", url.Values{}); resp.StatusCode != http.StatusOK {
				t.Fatalf("enable: %d", resp.StatusCode)
			}
			if resp := c.api("POST", "/admin/users/"+itoa(two.ID)+"/role", url.Values{"role": {"user"}}); resp.StatusCode != http.StatusOK {
				t.Fatalf("demote the other admin: %d", resp.StatusCode)
			}
			// The models refuse whoever asks: the console's own-account rule is not the only guard.
			only, _ := models.FindUserByEmail(t.Context(), db, "only@example.test")
			_, err := models.SetUserDisabled(t.Context(), db, only.ID, true, models.Audit{}, a.clock.Now())
			if !strings.Contains(errString(err), "last active admin") {
				t.Fatalf("disable the last admin in models: %v", err)
			}
		})
	}
}

func TestCLI_Accounts_SetPasswordResetLinkDisableEnable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		env := map[string]string{"DATABASE_URL": db.URL(), "BASE_URL": "https://login.example.test"}
		a := newTestApp(t, db, env)
		user := testdb.CreateUser(t, db, "fay@example.test", "user")
		c := a.client()
		c.login(user.Email, "password123")

		if out, err := runCLI(t, env, "", "users", "set-password", "--email", user.Email); err == nil {
			t.Fatalf("set-password without a password on stdin succeeded: %s", out)
		}
		if out, err := runCLI(t, env, "new-password-1\n", "users", "set-password", "--email", user.Email); err != nil || !strings.Contains(out, "1 session(s) ended") {
			t.Fatalf("set-password: %v %s", err, out)
		}
		// Another process: this server hears of it through its cache's TTL
		// (or NOTIFY when running), so look at the rows.
		if n := countRows(t, db, "sessions", "user_id = ?", user.ID); n != 0 {
			t.Fatalf("%d sessions survived set-password", n)
		}
		out, err := runCLI(t, env, "", "users", "reset-link", "--email", user.Email)
		if err != nil || !strings.HasPrefix(out, "https://login.example.test/password/reset?token=") {
			t.Fatalf("reset-link: %v %s", err, out)
		}
		if resp, _ := c.page(strings.TrimPrefix(strings.TrimSpace(out), "https://login.example.test")); resp.StatusCode != http.StatusOK {
			t.Fatalf("the printed link: %d", resp.StatusCode)
		}
		if out, err := runCLI(t, env, "", "users", "reset-link", "--email", user.Email, "--send"); err != nil || !strings.Contains(out, "queued") {
			t.Fatalf("reset-link --send: %v %s", err, out)
		}
		if n := countRows(t, db, "deliveries", "user_id = ? AND status = ?", user.ID, models.DeliveryQueued); n != 1 {
			t.Fatalf("%d queued deliveries after --send, want 1", n)
		}
		if out, err := runCLI(t, env, "", "users", "disable", "--email", user.Email); err != nil || !strings.Contains(out, "disabled") {
			t.Fatalf("disable: %v %s", err, out)
		}
		if u, _ := models.FindUser(t.Context(), db, user.ID); !u.Disabled() {
			t.Fatal("not disabled")
		}
		if _, err := runCLI(t, env, "", "users", "enable", "--email", user.Email); err != nil {
			t.Fatal(err)
		}
		if _, err := runCLI(t, env, "", "users", "disable", "--email", "nobody@example.test"); err == nil {
			t.Fatal("disabling an unknown address succeeded")
		}
	})
}

func TestAdmin_ResetLink_CopyGivesAWorkingLink_SendQueuesMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admin := testdb.CreateUser(t, db, "root@example.test", "admin")
		user := testdb.CreateUser(t, db, "gus@example.test", "user")
		ac := a.client()
		ac.login(admin.Email, "password123")
		resp := ac.api("POST", "/admin/users/"+itoa(user.ID)+"/reset-link", url.Values{"action": {"copy"}})
		var got struct{ Link string }
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("copy: %d %v", resp.StatusCode, err)
		}
		u, _ := url.Parse(got.Link)
		if r, _ := a.client().page(u.RequestURI()); r.StatusCode != http.StatusOK {
			t.Fatalf("the copied link: %d", r.StatusCode)
		}
		resp = ac.form("/admin/users/"+itoa(user.ID)+"/reset-link", url.Values{"action": {"copy"}})
		if body := readBody(t, resp); !strings.Contains(body, `id="reset-link"`) {
			t.Fatal("the page shows no link to copy")
		}
		if resp := ac.api("POST", "/admin/users/"+itoa(user.ID)+"/reset-link", url.Values{"action": {"send"}}); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("send: %d", resp.StatusCode)
		}
		if resp := ac.api("POST", "/admin/users/"+itoa(user.ID)+"/reset-link", url.Values{"action": {"shout"}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("unknown action: %d", resp.StatusCode)
		}
		if n := countRows(t, db, "deliveries", "user_id = ?", user.ID); n != 1 {
			t.Fatalf("%d deliveries, want 1", n)
		}
		if resp, body := ac.page("/admin/mail"); resp.StatusCode != http.StatusOK || !strings.Contains(body, user.Email) {
			t.Fatalf("mail page: %d", resp.StatusCode)
		}
		uc := a.client()
		uc.login(user.Email, "password123")
		if resp := uc.request("GET", "/admin/mail", nil, http.Header{"Accept": {"application/json"}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("mail page for a user: %d, want 403", resp.StatusCode)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
