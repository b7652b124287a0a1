package app

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestBrowser_AdminUsers_SearchCreateForceLogoutDelete_WithoutPageLoads
// drives the users page in Chromium: every action swaps the table in
// place (a value set on window survives), confirms are accepted, and the
// force-logged-out user's own browser is sent to /login on its next click.
func TestBrowser_AdminUsers_SearchCreateForceLogoutDelete_WithoutPageLoads(t *testing.T) {
	db := testdb.SQLite(t)
	srv, base := liveServer(t, db, nil)
	admin := testdb.CreateUser(t, db, "browser-admin@example.com", models.RoleAdmin)
	victim := testdb.CreateUser(t, db, "victim@example.com", models.RoleUser)

	vctx := newBrowser(t)
	if err := chromedp.Run(vctx, browserLogin(base, victim.Email, "password123")); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t)
	var marker, toast, search, rows, path string
	var asked int
	step := func(name string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nserver log:\n%s", name, err, srv.logs.String())
		}
	}
	step("sign in and open the users page",
		browserLogin(base, admin.Email, "password123"),
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(`#users-table`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__kept = "yes"`, nil),
		// Anything the page's CSP blocks (an inline style, say) is recorded.
		chromedp.Evaluate(`window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))`, nil),
		acceptConfirms(),
	)
	var focused string
	step("New user opens the form with the cursor in its first field",
		chromedp.Click(`#new-user-button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#new-user-name`, chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
	)
	if focused != "new-user-name" {
		t.Fatalf("focus on %q after New user, want the name field", focused)
	}
	step("create a user through the form",
		chromedp.SendKeys(`#new-user-name`, "Grace <Hopper>", chromedp.ByQuery),
		chromedp.SendKeys(`#new-user-email`, "grace@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#new-user-password`, "long-enough-pw", chromedp.ByQuery),
		chromedp.Click(`#user-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#toast .alert-success`, chromedp.ByQuery),
		chromedp.Text(`#toast`, &toast, chromedp.ByQuery),
	)
	step("search: the URL follows it",
		chromedp.SendKeys(`#users-q`, "victim", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#users-table tbody tr').length === 1`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Evaluate(`location.search`, &search),
		chromedp.Poll(htmxIdle, nil, chromedp.WithPollingTimeout(20*time.Second)),
	)
	step("force logout, accepting the confirm",
		chromedp.Click(fmt.Sprintf(`form[action="/admin/users/%d/logout"] button`, victim.ID), chromedp.ByQuery),
		chromedp.Poll(`(document.querySelector('#toast').textContent || '').includes('Ended every session of victim@example.com')`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		// The swapped-in table must have settled before the next click, or
		// the click can land on a button htmx is replacing.
		chromedp.Poll(htmxIdle, nil, chromedp.WithPollingTimeout(20*time.Second)),
	)
	step("delete from the row's menu, accepting the confirm: the row leaves",
		chromedp.Click(fmt.Sprintf(`#user-%d details.menu summary`, victim.ID), chromedp.ByQuery),
		chromedp.Click(fmt.Sprintf(`button[hx-delete="/admin/users/%d"]`, victim.ID), chromedp.ByQuery),
		chromedp.Poll(fmt.Sprintf(`!document.querySelector('#user-%d')`, victim.ID), nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Evaluate(`document.querySelector('#users-table').textContent`, &rows),
		chromedp.Evaluate(`String(window.__kept)`, &marker),
		chromedp.Evaluate(`(window.__asked || []).length`, &asked),
	)
	if os.Getenv("SESSIOND_SCREENSHOT") != "" {
		var png []byte
		if err := chromedp.Run(ctx, chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(`#users-table`, chromedp.ByQuery),
			chromedp.FullScreenshot(&png, 100)); err == nil {
			_ = os.WriteFile(os.Getenv("SESSIOND_SCREENSHOT"), png, 0o644)
		}
	}
	if asked != 2 {
		t.Fatalf("%d confirms asked, want 2 (force logout, delete)", asked)
	}
	if marker != "yes" {
		t.Fatal("a page load happened: the window marker is gone")
	}
	var blocked []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.__csp || ["marker lost"]`, &blocked)); err != nil || len(blocked) > 0 {
		t.Fatalf("the security policy blocked %v (%v)", blocked, err)
	}
	if !strings.Contains(toast, "Created grace@example.com") || !strings.Contains(search, "q=victim") || !strings.Contains(rows, "No users match") {
		t.Fatalf("toast=%q search=%q table=%q", toast, search, rows)
	}
	// The victim's browser: its next click lands on the sign-in page.
	err := chromedp.Run(vctx,
		chromedp.Click(`a.brand`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
	)
	if err != nil || path != "/login" {
		t.Fatalf("victim after force logout: %q %v", path, err)
	}
}
