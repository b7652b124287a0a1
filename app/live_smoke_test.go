package app

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestBrowser_SignInAndOut_WithHTMXLoadedUnderCSP(t *testing.T) {
	db := testdb.SQLite(t)
	_, base := liveServer(t, db, nil)
	u := testdb.CreateUser(t, db, "browser@example.com", models.RoleUser)
	ctx := newBrowser(t)
	var who, htmxType, path string
	err := chromedp.Run(ctx,
		browserLogin(base, u.Email, "password123"),
		chromedp.Text(`.user-menu`, &who, chromedp.ByQuery),
		chromedp.Evaluate(`typeof htmx`, &htmxType),
		chromedp.Click(`.user-menu button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(who, u.Name) || htmxType != "object" || path != "/login" {
		t.Fatalf("who=%q htmx=%q path=%q", who, htmxType, path)
	}
}
