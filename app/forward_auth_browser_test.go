package app

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestBrowser_ForwardAuthSignIn_NextOnAnotherHost_LandsOnTheApp: in
// Chromium, which enforces the sign-in page's CSP, a visitor sent by the
// proxy from the app's host to sign in on sessiond's host is taken back to
// the app after signing in, and the app sees who they are. Behind nginx
// (the README's blocks) the example.test names reach loopback through
// Chromium's host resolver rules; behind the README's local Caddyfile the
// *.localhost names need nothing. The sign-out link then ends the session
// and brings the browser back to the app, which sends it to sign in.
func TestBrowser_ForwardAuthSignIn_NextOnAnotherHost_LandsOnTheApp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup proxySetup
	}{{"nginx", nginxSetup}, {"caddy-local", caddyLocalSetup}} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, proxy := proxyStack(t, tc.setup)
			user := testdb.CreateUser(t, a.db, "browser@example.com", models.RoleUser)
			var flags []chromedp.ExecAllocatorOption
			if tc.setup.domain == e2eDomain {
				flags = append(flags, chromedp.Flag("host-resolver-rules", "MAP *."+e2eDomain+" 127.0.0.1"))
			}
			ctx := newBrowser(t, flags...)
			app := "http://app1." + tc.setup.domain + ":" + portOf(proxy) + "/reports/q3?year=2026"
			loginBase := a.srv.cfg.BaseURL.String()
			var landed, body string
			err := chromedp.Run(ctx,
				chromedp.Navigate(app),
				chromedp.WaitVisible(`#email`, chromedp.ByQuery),
				chromedp.Location(&landed),
			)
			if err != nil {
				t.Fatalf("open the app: %v", err)
			}
			if !strings.HasPrefix(landed, loginBase+"/login?next=") {
				t.Fatalf("not sent to sign in: at %s", landed)
			}
			err = chromedp.Run(ctx,
				chromedp.SendKeys(`#email`, user.Email, chromedp.ByQuery),
				chromedp.SendKeys(`#password`, "password123", chromedp.ByQuery),
				chromedp.Submit(`#password`, chromedp.ByQuery),
			)
			if err != nil {
				t.Fatalf("sign in: %v", err)
			}
			if at := waitLocation(ctx, app, 30*time.Second); at != app {
				t.Fatalf("after signing in the browser stayed at %s, not back at %s", at, app)
			}
			if err := chromedp.Run(ctx, chromedp.Text("body", &body, chromedp.ByQuery)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(body, `"Remote-User":["`+user.Email+`"]`) {
				t.Fatalf("the app did not see the user: %s", body)
			}

			// The sign-out link: confirm, and the browser is back at the app,
			// which sends it to sign in (the page's CSP lets the form's
			// redirect reach the app's origin).
			err = chromedp.Run(ctx,
				chromedp.Navigate(loginBase+"/logout?rd="+url.QueryEscape(app)),
				chromedp.Click(`#logout-confirm`, chromedp.ByQuery),
			)
			if err != nil {
				t.Fatalf("sign out: %v", err)
			}
			if want := loginBase + "/login?next=" + url.QueryEscape(app); waitLocation(ctx, want, 30*time.Second) != want {
				t.Fatalf("after signing out the browser is not back at the app's sign-in: want %s", want)
			}
		})
	}
}

// waitLocation waits until the browser's page is at want (navigations in
// between are fine) and returns where it is when it stops waiting.
func waitLocation(ctx context.Context, want string, limit time.Duration) string {
	var at string
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var loc string
		err := chromedp.Run(lctx, chromedp.Location(&loc))
		cancel()
		if err != nil {
			continue
		}
		if at = loc; at == want {
			break
		}
	}
	return at
}
