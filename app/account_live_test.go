package app

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestBrowser_SignOutAnotherDevice_ItsNextClickLandsOnLogin: one user in
// two browsers (separate cookie jars, like two devices). From the
// first, "Sign out" on the second's row removes the row without a reload
// and shows a toast; the second's next click lands on /login.
func TestBrowser_SignOutAnotherDevice_ItsNextClickLandsOnLogin(t *testing.T) {
	db := testdb.SQLite(t)
	_, base := liveServer(t, db, nil)
	u := testdb.CreateUser(t, db, "two-devices@example.com", models.RoleUser)
	// Two newBrowser calls are two profiles with separate cookie jars.
	// (chromedp v0.14.2's WithNewBrowserContext asks this Chromium for a
	// tab without a window and gets "no browser is open".)
	first, second := newBrowser(t), newBrowser(t)

	if err := chromedp.Run(second, browserLogin(base, u.Email, "password123")); err != nil {
		t.Fatalf("second device sign-in: %v", err)
	}
	var rows int
	var marker, toast string
	err := chromedp.Run(first,
		browserLogin(base, u.Email, "password123"),
		chromedp.Navigate(base+"/account/sessions"),
		chromedp.WaitVisible(`#account-sessions tr.current`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#account-sessions tbody tr').length`, &rows),
		chromedp.Evaluate(`window.notReloaded = "yes"`, nil),
		acceptConfirms(),
		chromedp.Click(`#account-sessions tbody tr:not(.current) button`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#account-sessions tbody tr:not(.current)`, chromedp.ByQuery),
		chromedp.WaitVisible(`#toast .alert`, chromedp.ByQuery),
		chromedp.Text(`#toast`, &toast, chromedp.ByQuery),
		chromedp.Evaluate(`String(window.notReloaded)`, &marker),
	)
	if err != nil {
		t.Fatalf("first device revokes the second: %v", err)
	}
	if rows != 2 || marker != "yes" || !strings.Contains(toast, "Signed out") {
		t.Fatalf("rows before %d, page reloaded %v, toast %q", rows, marker != "yes", toast)
	}
	landsOnLogin(t, second)
}

// TestBrowser_SignOutAllOthers_AsksFirst_SaysHowMany_KeepsThisDevice is
// the same journey through "Sign out all other sessions". (A separate test
// so each stays well inside newBrowser's 90 s budget on a loaded machine.)
func TestBrowser_SignOutAllOthers_AsksFirst_SaysHowMany_KeepsThisDevice(t *testing.T) {
	db := testdb.SQLite(t)
	_, base := liveServer(t, db, nil)
	u := testdb.CreateUser(t, db, "all-others@example.com", models.RoleUser)
	first, second := newBrowser(t), newBrowser(t)
	if err := chromedp.Run(second, browserLogin(base, u.Email, "password123")); err != nil {
		t.Fatalf("second device sign-in: %v", err)
	}
	var asked, toast string
	var rows int
	err := chromedp.Run(first,
		browserLogin(base, u.Email, "password123"),
		chromedp.Navigate(base+"/account/sessions"),
		chromedp.WaitVisible(`#revoke-others`, chromedp.ByQuery),
		acceptConfirms(),
		chromedp.Click(`#revoke-others`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#revoke-others`, chromedp.ByQuery),
		chromedp.Evaluate(`String(window.__asked)`, &asked),
		chromedp.Text(`#toast`, &toast, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#account-sessions tbody tr').length`, &rows),
	)
	if err != nil {
		t.Fatalf("sign out all others: %v", err)
	}
	if !strings.Contains(asked, "Sign out the other session?") || !strings.Contains(toast, "Signed out 1 other session.") || rows != 1 {
		t.Fatalf("confirm %q, toast %q, rows %d", asked, toast, rows)
	}
	landsOnLogin(t, second)
}

// landsOnLogin clicks a nav link in a browser whose session was revoked
// and expects the sign-in page.
func landsOnLogin(t *testing.T, ctx context.Context) {
	t.Helper()
	var path string
	err := chromedp.Run(ctx,
		chromedp.Click(`.nav a[href="/account/sessions"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
	)
	if err != nil || path != "/login" {
		t.Fatalf("revoked device's next click: path %q, err %v", path, err)
	}
}
