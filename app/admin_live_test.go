package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// acceptConfirms answers every confirmation (hx-confirm, shown in the
// page's styled #confirm-dialog) with its confirm button, as a user would,
// and records the questions in window.__asked. Set once after the page
// loads (htmx never reloads it).
func acceptConfirms() chromedp.Action {
	return chromedp.Evaluate(`(() => {
		const d = document.getElementById('confirm-dialog');
		new MutationObserver(() => {
			if (!d.open) return;
			(window.__asked = window.__asked || []).push(d.querySelector('[data-confirm-text]').textContent);
			setTimeout(() => d.querySelector('[data-confirm-ok]').click(), 0);
		}).observe(d, {attributes: true, attributeFilter: ['open']});
	})()`, nil)
}

// waitJS polls a JavaScript condition until it is true.
func waitJS(expr string) chromedp.Action {
	return chromedp.Poll(expr, nil, chromedp.WithPollingTimeout(20*time.Second))
}

func TestBrowser_AdminConsole_FilterDeleteForceLogoutCleanup_WithoutPageLoads(t *testing.T) {
	db := testdb.SQLite(t)
	a, base := liveServer(t, db, nil)
	admin := testdb.CreateUser(t, db, "live-admin@example.com", models.RoleAdmin)
	victim, err := models.CreateUser(context.Background(), db, models.NewUser{Email: "victor@example.com", Name: "Victor Target", Password: "password123"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := models.CreateUser(context.Background(), db, models.NewUser{Email: "olga@example.com", Name: "Olga Other", Password: "password123"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := a.srv.Sessions()
	mk := func(userID int64, expires time.Time) *models.Session {
		tok, _ := models.NewToken()
		s, err := m.CreateSession(context.Background(), tok, userID, expires, models.Client{IP: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := a.clock.Now()
	victimOld := mk(victim.ID, now.Add(48*time.Hour))
	otherLive := mk(other.ID, now.Add(time.Hour))
	for range 3 {
		mk(other.ID, now.Add(-time.Hour))
	}

	// The victim is signed in on a device of their own.
	victimCtx := newBrowser(t)
	if err := chromedp.Run(victimCtx, browserLogin(base, victim.Email, "password123")); err != nil {
		t.Fatalf("victim sign-in: %v", err)
	}

	ctx := newBrowser(t)
	var marker int
	var expiredBefore string
	err = chromedp.Run(ctx,
		browserLogin(base, admin.Email, "password123"),
		chromedp.Navigate(base+"/admin/sessions"),
		chromedp.WaitVisible(`#sessions-table`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__marker = 42`, nil),
		acceptConfirms(),
		chromedp.Text(`#stat-expired`, &expiredBefore, chromedp.ByQuery),
		// Filter by the user: only Victor's rows stay, the URL follows.
		chromedp.SendKeys(`#filter-q`, "victor", chromedp.ByQuery),
		chromedp.WaitNotPresent(fmt.Sprintf(`#session-%d`, otherLive.ID), chromedp.ByQuery),
		waitJS(`location.search.includes("q=victor")`),
		chromedp.WaitVisible(fmt.Sprintf(`#session-%d`, victimOld.ID), chromedp.ByQuery),
		waitJS(htmxIdle),
		// Delete one session: its row leaves, the page stays.
		chromedp.Click(fmt.Sprintf(`#session-%d button.btn-danger`, victimOld.ID), chromedp.ByQuery),
		chromedp.WaitNotPresent(fmt.Sprintf(`#session-%d`, victimOld.ID), chromedp.ByQuery),
		chromedp.Evaluate(`window.__marker`, &marker),
	)
	if err != nil {
		t.Fatalf("filter and delete: %v", err)
	}
	if marker != 42 {
		t.Fatal("the page reloaded on delete")
	}
	if _, ok := sessionExists(t, db, victimOld.ID); ok {
		t.Fatal("deleted session still in the database")
	}
	if expiredBefore != "3" {
		t.Fatalf("expired count %q, want 3", expiredBefore)
	}

	// Force logout: the victim's remaining (browser) session ends.
	err = chromedp.Run(ctx,
		waitJS(htmxIdle),
		chromedp.Click(`#sessions-table tbody tr button:not(.btn-danger)`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sessions-table .empty`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__marker`, &marker),
	)
	if err != nil || marker != 42 {
		t.Fatalf("force logout: %v (marker %d)", err, marker)
	}
	var path string
	err = chromedp.Run(victimCtx,
		chromedp.Click(`a.brand`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
	)
	if err != nil || path != "/login" {
		t.Fatalf("victim after force logout: %v at %q, want /login", err, path)
	}

	// Cleanup: the counts change without a reload.
	var expiredAfter string
	var asked int
	err = chromedp.Run(ctx,
		waitJS(htmxIdle),
		chromedp.Click(`#cleanup-button`, chromedp.ByQuery),
		waitJS(`document.querySelector("#stat-expired").textContent.trim() === "0"`),
		chromedp.Text(`#stat-expired`, &expiredAfter, chromedp.ByQuery),
		chromedp.Evaluate(`window.__marker`, &marker),
		chromedp.Evaluate(`(window.__asked || []).length`, &asked),
	)
	if err != nil || marker != 42 || expiredAfter != "0" {
		t.Fatalf("cleanup: %v, expired %q, marker %d", err, expiredAfter, marker)
	}
	if asked != 3 {
		t.Fatalf("%d confirms asked, want 3 (end session, end all, cleanup)", asked)
	}
	if n := countRows(t, db, "sessions", "expires_at <= ?", db.T(time.Now())); n != 0 {
		t.Fatalf("%d expired sessions left", n)
	}
}

func sessionExists(t *testing.T, db *models.DB, id int64) (int, bool) {
	t.Helper()
	n := countRows(t, db, "sessions", "id = ?", id)
	return n, n > 0
}
