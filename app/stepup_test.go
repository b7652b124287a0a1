package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestStepUp_WindowExpires_JSON403_ReauthThenActionWorks: a sign-in is a
// strong proof for SUDO_WINDOW; after it, a dangerous action answers 403
// {error, reauth: true} and changes nothing, until the user confirms it is
// them — with the password alone when they have no second factor, with the
// password and a code when they have one.
func TestStepUp_WindowExpires_JSON403_ReauthThenActionWorks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"SUDO_WINDOW": "10m"})
		admin := testdb.CreateUser(t, db, "sudo-admin@example.com", models.RoleAdmin)
		victims := []*models.User{
			testdb.CreateUser(t, db, "victim1@example.com", models.RoleUser),
			testdb.CreateUser(t, db, "victim2@example.com", models.RoleUser),
			testdb.CreateUser(t, db, "victim3@example.com", models.RoleUser),
		}
		c := a.client()
		c.login(admin.Email, "password123")
		del := func(u *models.User) *http.Response { return c.api("DELETE", fmt.Sprintf("/admin/users/%d", u.ID), nil) }
		if resp := del(victims[0]); resp.StatusCode != http.StatusOK {
			t.Fatalf("delete right after sign-in: %d", resp.StatusCode)
		}

		a.clock.Advance(10*time.Minute + time.Second)
		resp := del(victims[1])
		var got struct {
			Error  string `json:"error"`
			Reauth bool   `json:"reauth"`
		}
		decodeJSON(t, resp, &got)
		if resp.StatusCode != http.StatusForbidden || !got.Reauth || got.Error == "" {
			t.Fatalf("after the window: %d %+v, want 403 with reauth true", resp.StatusCode, got)
		}
		if countRows(t, db, "users", "id = ?", victims[1].ID) != 1 {
			t.Fatal("the refused action deleted the user")
		}
		if resp := c.api("POST", "/account/reauth", url.Values{"password": {"wrong-password"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("re-auth with a wrong password: %d", resp.StatusCode)
		}
		if resp := c.api("POST", "/account/reauth", url.Values{"password": {"password123"}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("re-auth: %d", resp.StatusCode)
		}
		if resp := del(victims[1]); resp.StatusCode != http.StatusOK {
			t.Fatalf("delete after re-auth: %d", resp.StatusCode)
		}

		// With a second factor, the password alone no longer steps up.
		secret, _ := enrolTOTP(t, a, c)
		a.clock.Advance(11 * time.Minute)
		if resp := del(victims[2]); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("after the window, with a factor: %d", resp.StatusCode)
		}
		if resp := c.api("POST", "/account/reauth", url.Values{"password": {"password123"}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("password without the code: %d, want 400", resp.StatusCode)
		}
		resp = c.api("POST", "/account/reauth", url.Values{"password": {"password123"}, "code": {codeAt(t, secret, a.clock.Now())}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("password and code: %d", resp.StatusCode)
		}
		if resp := del(victims[2]); resp.StatusCode != http.StatusOK {
			t.Fatalf("delete after password and code: %d", resp.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND detail = ?", models.EventStepUp, "methods=pwd,otp"); n != 1 {
			t.Fatalf("%d step-up events with pwd,otp", n)
		}
	})
}

// TestStepUp_EveryDangerousRoute: each route the issue names refuses a
// stale session, in JSON (403 reauth) and htmx (the dialog's form,
// retargeted), and a fresh one is let through.
func TestStepUp_EveryDangerousRoute(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, nil)
	admin := testdb.CreateUser(t, db, "routes-admin@example.com", models.RoleAdmin)
	other := testdb.CreateUser(t, db, "routes-other@example.com", models.RoleUser)
	c := a.client()
	c.login(admin.Email, "password123")
	a.clock.Advance(time.Hour)
	c.page("/account/security")
	id := fmt.Sprint(other.ID)
	for _, r := range []struct{ method, path string }{
		{"DELETE", "/admin/users/" + id},
		{"POST", "/admin/users/" + id + "/role"},
		{"POST", "/admin/users/" + id + "/logout"},
		{"POST", "/admin/users/" + id + "/reset-2fa"},
		{"DELETE", "/admin/sessions"},
		{"POST", "/admin/sessions"},
		{"POST", "/admin/cleanup/run"},
		{"POST", "/account/password"},
		{"POST", "/account/recovery-codes"},
		{"DELETE", "/account/factors/1"},
	} {
		resp := c.api(r.method, r.path, url.Values{"role": {"admin"}, "userId": {id}, "action": {"cleanup"}})
		var got struct{ Reauth bool }
		decodeJSON(t, resp, &got)
		if resp.StatusCode != http.StatusForbidden || !got.Reauth {
			t.Errorf("%s %s with a stale session: %d reauth=%v", r.method, r.path, resp.StatusCode, got.Reauth)
		}
		resp = c.htmx(r.method, r.path, url.Values{})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Reauth") != "required" ||
			resp.Header.Get("HX-Retarget") != "#reauth" || !strings.Contains(body, `id="reauth-password"`) {
			t.Errorf("%s %s over htmx: %d %q", r.method, r.path, resp.StatusCode, resp.Header.Get("HX-Retarget"))
		}
	}
	if u, err := models.FindUser(t.Context(), db, other.ID); err != nil || u.Role != models.RoleUser {
		t.Fatalf("a refused action changed the user: %v %v", u, err)
	}
}

// TestPolicy_CoveredUserEnrolsBeforeAnySession: with REQUIRE_2FA=all the
// password leads to enrolment, not a session; enrolling finishes the
// sign-in; the last factor cannot be removed (409).
func TestPolicy_CoveredUserEnrolsBeforeAnySession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"REQUIRE_2FA": "all"})
		u := testdb.CreateUser(t, db, "covered@example.com", models.RoleUser)
		c := a.client()
		c.page("/login")
		resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != stepEnrol {
			t.Fatalf("covered user's password: %d to %q, want the enrolment step", resp.StatusCode, resp.Header.Get("Location"))
		}
		if c.signedIn() || countRows(t, db, "sessions", "user_id = ?", u.ID) != 0 {
			t.Fatal("a session exists before the covered user enrolled")
		}
		for _, path := range []string{"/", "/account/sessions", "/admin/sessions"} {
			if resp := c.request("GET", path, nil, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Fatalf("GET %s while enrolling: %d %q", path, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		if _, body := c.page(stepEnrol); !strings.Contains(body, "requires a second factor") {
			t.Fatal("the enrolment page does not say why")
		}
		resp = c.form("/account/totp", nil)
		m := totpSecretRe.FindStringSubmatch(readBody(t, resp))
		if m == nil {
			t.Fatalf("enrolment key not shown: %d", resp.StatusCode)
		}
		resp = c.form("/account/totp/confirm", url.Values{"code": {codeAt(t, m[1], a.clock.Now())}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || len(recoveryCodeRe.FindAllString(body, -1)) != models.RecoveryCodeCount {
			t.Fatalf("confirm while enrolling: %d", resp.StatusCode)
		}
		if !c.signedIn() || lastAMR(t, db, u.ID) != "pwd,otp" {
			t.Fatalf("after enrolling: signed in %v, amr %q", c.signedIn(), lastAMR(t, db, u.ID))
		}
		set, _ := models.UserFactors(t.Context(), db, u.ID)
		c.page("/account/security")
		resp = c.api("DELETE", fmt.Sprintf("/account/factors/%d", set.TOTP.ID), nil)
		var got struct{ Error string }
		decodeJSON(t, resp, &got)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(got.Error, "requires a second factor") {
			t.Fatalf("removing the last factor under the policy: %d %q", resp.StatusCode, got.Error)
		}
		if countRows(t, db, "factors", "user_id = ? AND kind = ?", u.ID, models.FactorTOTP) != 1 {
			t.Fatal("the refused removal removed the factor")
		}
	})
}

// TestAdminReset2FA_EndsTheUsersSessions_CLIToo: the admin's reset removes
// every factor and recovery code, ends every session of the user and is
// audited; the CLI's does the same.
func TestAdminReset2FA_EndsTheUsersSessions_CLIToo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admin := testdb.CreateUser(t, db, "reset-admin@example.com", models.RoleAdmin)
		uc, u := a.signIn("lost-phone@example.com", models.RoleUser)
		enrolTOTP(t, a, uc)
		ac := a.client()
		ac.login(admin.Email, "password123")
		resp := ac.api("POST", fmt.Sprintf("/admin/users/%d/reset-2fa", u.ID), nil)
		var got struct{ Deleted int }
		decodeJSON(t, resp, &got)
		if resp.StatusCode != http.StatusOK || got.Deleted != 1 {
			t.Fatalf("reset: %d %+v", resp.StatusCode, got)
		}
		if uc.signedIn() || countRows(t, db, "factors", "user_id = ?", u.ID) != 0 || countRows(t, db, "sessions", "user_id = ?", u.ID) != 0 {
			t.Fatal("after the reset the user still has a session or factors")
		}
		if countRows(t, db, "session_events", "kind = ? AND user_id = ? AND actor_id = ?", models.EventFactorsReset, u.ID, admin.ID) != 1 {
			t.Fatal("the reset is not in the audit trail")
		}
		uc.login(u.Email, "password123") // the password alone signs in again
	})
	env := map[string]string{"DATABASE_URL": testdb.SQLiteURL(t)}
	if _, err := runCLI(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, env, "", "users", "create", "--email", "cli2fa@example.com", "--name", "C", "--password", "password123"); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, env, "", "users", "reset-2fa", "--email", "cli2fa@example.com"); err != nil || !strings.Contains(out, "removed every second factor") {
		t.Fatalf("CLI reset-2fa: %v %s", err, out)
	}
	if out, err := runCLI(t, env, "", "users", "reset-2fa", "--email", "nobody@example.com"); err == nil {
		t.Fatalf("CLI reset-2fa of an unknown user succeeded: %s", out)
	}
}
