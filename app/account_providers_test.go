package app

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// followProvider takes a response that sends the browser to the test
// provider through its sign-in page (as username) and back to sessiond.
func (c *client) followProvider(o *testOP, resp *http.Response, username string) *http.Response {
	c.app.t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, o.issuer) {
		c.app.t.Fatalf("not sent to the provider: %d %q %s", resp.StatusCode, loc, readBody(c.app.t, resp))
	}
	back := o.authorize(loc, username)
	return c.request("GET", strings.TrimPrefix(back.String(), testBase), nil, nil)
}

// TestProviderAccounts_Link_Unlink_SetPassword_LastWayKept: a password
// user links a provider and unlinks it; an account linked to someone
// else is refused; a provider-only user cannot unlink their last way in
// until they set a password, after which both work.
func TestProviderAccounts_Link_Unlink_SetPassword_LastWayKept(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		o := newTestOP(t, corpCallback, opAda, opBob)
		a := newTestApp(t, db, o.env("corp", map[string]string{"SIGNUP": "providers"}))
		c, pat := a.signIn("pat@example.com", models.RoleUser)
		if resp := c.followProvider(o, c.form("/account/providers/corp/link", nil), "bob"); resp.StatusCode != http.StatusSeeOther ||
			resp.Header.Get("Location") != "/account/security" {
			t.Fatalf("link: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), readBody(t, resp))
		}
		acct, err := models.FindAccount(t.Context(), db, "corp", opBob.id)
		if err != nil || acct.UserID != pat.ID {
			t.Fatalf("linked account %+v %v", acct, err)
		}
		if _, page := c.page("/account/security"); !strings.Contains(page, `class="account-provider">Test OP`) {
			t.Fatal("the Security page does not list the linked account")
		}
		// Bob's provider account now signs Pat in.
		other := a.client()
		if resp := other.providerSignIn(o, "bob", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in with the linked account: %d", resp.StatusCode)
		}

		// Ada signs up through the provider; her account cannot be linked to Pat too.
		ada := a.client()
		if resp := ada.providerSignIn(o, "ada", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-up: %d", resp.StatusCode)
		}
		resp := c.followProvider(o, c.form("/account/providers/corp/link", nil), "ada")
		if body := readBody(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already linked to another user") {
			t.Fatalf("linking another user's account: %d %s", resp.StatusCode, body)
		}

		// Ada's only way in is the provider.
		adaAcct, _ := models.FindAccount(t.Context(), db, "corp", opAda.id)
		ada.page("/account/security")
		resp = ada.api("DELETE", "/account/accounts/"+strconv.FormatInt(adaAcct.ID, 10), nil)
		if body := readBody(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "last way to sign in") {
			t.Fatalf("unlinking the last way in: %d %s", resp.StatusCode, body)
		}
		if _, page := ada.page("/account/password"); !strings.Contains(page, `id="password-first"`) || strings.Contains(page, `id="current_password"`) {
			t.Fatal("a user without a password is asked for the current one")
		}
		if resp := ada.form("/account/password", url.Values{"new_password": {"ada-password-1"}, "confirm": {"ada-password-1"}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("set password: %d %s", resp.StatusCode, readBody(t, resp))
		}
		ada.page("/account/security")
		if resp := ada.api("DELETE", "/account/accounts/"+strconv.FormatInt(adaAcct.ID, 10), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("unlink with a password set: %d %s", resp.StatusCode, readBody(t, resp))
		}
		a.client().login(opAda.email, "ada-password-1")

		// Pat unlinks Bob's account: Pat still has a password.
		c.page("/account/security")
		if resp := c.api("DELETE", "/account/accounts/"+strconv.FormatInt(acct.ID, 10), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("unlink: %d", resp.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind IN (?, ?)", models.EventAccountLinked, models.EventAccountUnlinked); n != 4 {
			t.Fatalf("%d link/unlink events, want 4", n)
		}
	})
}

// TestProviderAccounts_StepUpAtTheProvider: a provider-only user whose
// proof is stale confirms at the provider (asked to sign in again), after
// which the guarded action runs; a step-up with someone else's provider
// account is refused.
func TestProviderAccounts_StepUpAtTheProvider(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		o := newTestOP(t, corpCallback, opAda, opBob)
		a := newTestApp(t, db, o.env("corp", map[string]string{"SIGNUP": "providers", "SUDO_WINDOW": "1m"}))
		ada := a.client()
		if resp := ada.providerSignIn(o, "ada", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-up: %d", resp.StatusCode)
		}
		a.clock.Advance(2 * time.Minute)
		ada.page("/account/security")
		resp := ada.form("/account/providers/corp/link", nil)
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Confirm with Test OP") {
			t.Fatalf("stale proof: %d, want the re-authentication page offering the provider", resp.StatusCode)
		}
		start := ada.form("/account/reauth/provider/corp", url.Values{"next": {"/account/security"}})
		if u, _ := url.Parse(start.Header.Get("Location")); u == nil || u.Query().Get("prompt") != "login" {
			t.Fatalf("the step-up does not ask the provider to authenticate again: %q", start.Header.Get("Location"))
		}
		if resp := ada.followProvider(o, start, "bob"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("step-up as someone else at the provider: %d", resp.StatusCode)
		}
		ada.page("/account/security")
		resp = ada.followProvider(o, ada.form("/account/reauth/provider/corp", url.Values{"next": {"/account/security"}}), "ada")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/security" {
			t.Fatalf("step-up: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		ada.page("/account/security")
		if resp := ada.form("/account/providers/corp/link", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("after the step-up the guarded action is still refused: %d", resp.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND detail = ?", models.EventStepUp, "methods=fed"); n != 1 {
			t.Fatalf("%d step-up events", n)
		}
	})
}
