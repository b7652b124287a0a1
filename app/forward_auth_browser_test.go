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

// TestBrowser_ForwardAuthSignIn_NextOnAnotherHost_LandsOnTheApp: in
// Chromium, which enforces the sign-in page's CSP, a visitor sent by nginx
// from app.example.test to sign in at login.example.test is taken back to
// the app after signing in, and the app sees who they are. Both names
// resolve to loopback through Chromium's host resolver rules.
func TestBrowser_ForwardAuthSignIn_NextOnAnotherHost_LandsOnTheApp(t *testing.T) {
	db := testdb.SQLite(t)
	ln := freeListener(t)
	loginBase := "http://login." + e2eDomain + ":" + portOf(ln.Addr().String())
	liveServerOn(t, ln, db, map[string]string{"BASE_URL": loginBase, "COOKIE_DOMAIN": e2eDomain, "LOG_LEVEL": "warn"})
	up := newEchoUpstream(t)
	proxy := startNginx(t, ln.Addr().String(), up.Listener.Addr().String())
	user := testdb.CreateUser(t, db, "browser@example.com", models.RoleUser)
	ctx := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP *."+e2eDomain+" 127.0.0.1"))

	app := "http://app." + e2eDomain + ":" + portOf(proxy) + "/reports/q3?year=2026"
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
