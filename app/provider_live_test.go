package app

import (
	"net"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestBrowser_ProviderSignIn_ThroughTheProvidersPage is the sign-in with a
// provider in real Chromium, which enforces the CSP: the button posts and
// is redirected to the provider (on another site: localhost, while
// sessiond is 127.0.0.1), whose own page takes the password, and the
// browser comes back signed in; then the Security page lists the account.
func TestBrowser_ProviderSignIn_ThroughTheProvidersPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + ln.Addr().String()
		o := newTestOPAt(t, "localhost", base+"/login/provider/corp/callback", opAda)
		env := o.env("corp", map[string]string{"BASE_URL": base, "SIGNUP": "providers"})
		liveServerOn(t, ln, db, env)
		ctx := newBrowser(t)
		var account, path string
		err = chromedp.Run(ctx,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(`#provider-corp`, chromedp.ByQuery),
			chromedp.Click(`#provider-corp`, chromedp.ByQuery),
			chromedp.WaitVisible(`#username`, chromedp.ByQuery), // the provider's own sign-in page
			chromedp.SendKeys(`#username`, "ada", chromedp.ByQuery),
			chromedp.SendKeys(`#password`, opPassword, chromedp.ByQuery),
			chromedp.Submit(`#password`, chromedp.ByQuery),
			chromedp.WaitVisible(`.user-menu`, chromedp.ByQuery),
			chromedp.Evaluate(`location.pathname`, &path),
			chromedp.Navigate(base+"/account/security"),
			chromedp.WaitVisible(`#account-list`, chromedp.ByQuery),
			chromedp.Text(`#account-list .account-provider`, &account, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		if path != "/" || strings.TrimSpace(account) != "Test OP" {
			t.Fatalf("landed on %q; Security page lists %q", path, account)
		}
		if amr := lastAMR(t, db, mustUser(t, db, opAda.email).ID); amr != models.MethodFederated {
			t.Fatalf("amr %q", amr)
		}
	})
}
