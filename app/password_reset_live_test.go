package app

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestBrowser_ForgotPassword_MailLink_NewPassword_OldSessionsGone is the
// whole journey in Chromium: "Forgot password?" on the sign-in page, the
// mail over real SMTP, its link, a new password; the device that was
// signed in before is signed out, and the new password signs in.
func TestBrowser_ForgotPassword_MailLink_NewPassword_OldSessionsGone(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		box := newMailbox(t)
		_, base := liveServer(t, db, mailEnv(box), box.clientTLS)
		u := testdb.CreateUser(t, db, "forgetful@example.com", models.RoleUser)
		laptop, phone := newBrowser(t), newBrowser(t)
		if err := chromedp.Run(laptop, browserLogin(base, u.Email, "password123")); err != nil {
			t.Fatalf("laptop sign-in: %v", err)
		}

		var sent string
		err := chromedp.Run(phone,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(`#forgot-link`, chromedp.ByQuery),
			chromedp.Click(`#forgot-link`, chromedp.ByQuery),
			chromedp.WaitVisible(`#email`, chromedp.ByQuery),
			chromedp.SendKeys(`#email`, u.Email, chromedp.ByQuery),
			chromedp.Submit(`#email`, chromedp.ByQuery),
			chromedp.WaitVisible(`#reset-sent`, chromedp.ByQuery),
			chromedp.Text(`#reset-sent`, &sent, chromedp.ByQuery),
		)
		if err != nil || !strings.Contains(sent, "on its way") {
			t.Fatalf("forgot password: %v %q", err, sent)
		}
		link := parseMail(t, box.wait(1)[0].Raw).link(t)
		if !strings.HasPrefix(link, base+"/password/reset?token=") {
			t.Fatalf("link %q does not point at %s", link, base)
		}

		var flash string
		err = chromedp.Run(phone,
			chromedp.Navigate(link),
			chromedp.WaitVisible(`#password`, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, "a-fresh-password", chromedp.ByQuery),
			chromedp.SendKeys(`#confirm`, "a-fresh-password", chromedp.ByQuery),
			chromedp.Submit(`#confirm`, chromedp.ByQuery),
			chromedp.WaitVisible(`#login-flash`, chromedp.ByQuery),
			chromedp.Text(`#login-flash`, &flash, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, "a-fresh-password", chromedp.ByQuery),
			chromedp.Submit(`#password`, chromedp.ByQuery),
			chromedp.WaitVisible(`.user-menu`, chromedp.ByQuery),
		)
		if err != nil || !strings.Contains(flash, "every session signed out") {
			t.Fatalf("new password: %v %q", err, flash)
		}
		landsOnLogin(t, laptop)
	})
}
