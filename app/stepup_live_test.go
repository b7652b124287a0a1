package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestBrowser_StepUp_DialogThenTheActionCompletes_WithoutReload: a user
// with an authenticator app, signed in longer ago than SUDO_WINDOW,
// changes their password. The htmx post is answered "confirm it is you";
// the page opens the re-authentication dialog, takes the password and a
// code, closes it, and sends the change again — which then goes through,
// all without a page load.
func TestBrowser_StepUp_DialogThenTheActionCompletes_WithoutReload(t *testing.T) {
	db := testdb.SQLite(t)
	a, base := liveServer(t, db, nil)
	c, u := a.signIn("step-up@example.com", models.RoleUser)
	secret, _ := enrolTOTP(t, a, c)
	a.clock.Advance(30 * time.Second) // the enrolment used this step's code

	b := newBrowser(t)
	var marker, flash, dialogText string
	var dialogOpen, stillOpen bool
	err := chromedp.Run(b,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, u.Email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "password123", chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery),
		chromedp.SendKeys(`#code`, codeAt(t, secret, a.clock.Now()), chromedp.ByQuery),
		chromedp.Submit(`#code`, chromedp.ByQuery),
		chromedp.WaitVisible(`.user-menu`, chromedp.ByQuery),
		chromedp.ActionFunc(func(ctx context.Context) error {
			a.clock.Advance(a.srv.cfg.SudoWindow + 31*time.Second) // the proof is stale, and a new code step
			return nil
		}),
		chromedp.Navigate(base+"/account/password"),
		chromedp.WaitVisible(`#new_password`, chromedp.ByQuery),
		chromedp.Evaluate(`window.notReloaded = "yes"`, nil),
		chromedp.SendKeys(`#current_password`, "password123", chromedp.ByQuery),
		chromedp.SendKeys(`#new_password`, "a-new-password", chromedp.ByQuery),
		chromedp.SendKeys(`#confirm`, "a-new-password", chromedp.ByQuery),
		chromedp.Click(`#main form[hx-post="/account/password"] button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reauth-password`, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('reauth-dialog').open`, &dialogOpen),
		chromedp.Text(`#reauth-dialog`, &dialogText, chromedp.ByQuery),
		chromedp.SendKeys(`#reauth-password`, "password123", chromedp.ByQuery),
		chromedp.ActionFunc(func(ctx context.Context) error {
			return chromedp.SendKeys(`#reauth-code`, codeAt(t, secret, a.clock.Now()), chromedp.ByQuery).Do(ctx)
		}),
		chromedp.Click(`#reauth button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#main .alert`, chromedp.ByQuery),
		chromedp.Text(`#main .alert`, &flash, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('reauth-dialog').open`, &stillOpen),
		chromedp.Evaluate(`String(window.notReloaded)`, &marker),
	)
	if err != nil {
		t.Fatalf("step-up journey: %v\n%s", err, a.logs.String())
	}
	if !dialogOpen || !strings.Contains(dialogText, "Confirm it is you") {
		t.Fatalf("dialog open %v, text %q", dialogOpen, dialogText)
	}
	if stillOpen || marker != "yes" || !strings.Contains(flash, "Password changed") {
		t.Fatalf("after confirming: dialog open %v, reloaded %v, message %q", stillOpen, marker != "yes", flash)
	}
	user, err := models.FindUser(context.Background(), db, u.ID)
	if err != nil || !models.VerifyPassword(user.PasswordHash, "a-new-password") {
		t.Fatalf("the password did not change: %v", err)
	}
}
