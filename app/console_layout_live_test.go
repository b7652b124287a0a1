package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sessiond/models"
)

// addSessions gives u n more live sessions, one second apart (newest last).
func (f *consoleFixture) addSessions(t *testing.T, u *models.User, n int) []*models.Session {
	t.Helper()
	out := make([]*models.Session, 0, n)
	for range n {
		f.a.clock.Advance(time.Second)
		tok, _ := models.NewToken()
		s, err := f.a.srv.Sessions().CreateSession(context.Background(), tok, u.ID, f.a.clock.Now().Add(72*time.Hour),
			models.Client{IP: "203.0.113.77", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// saveScreenshot keeps what the viewport shows as name.png in
// SESSIOND_SCREENSHOT_DIR, when set (for people reviewing the layout).
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("SESSIOND_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// layout is what a viewport shows of a list page.
type layout struct {
	PageWidth, ViewW, ViewH int
	RowsAboveFold, Rows     int
	FirstRowTop, RowHeight  float64
	Offscreen               []string // controls and cells a reader cannot reach without scrolling sideways
}

const measureLayout = `(() => {
	const vw = innerWidth, vh = innerHeight, out = {PageWidth: document.documentElement.scrollWidth, ViewW: vw, ViewH: vh, Offscreen: []};
	const rows = [...document.querySelectorAll('main tbody tr')];
	out.Rows = rows.length;
	out.RowsAboveFold = rows.filter(r => r.getBoundingClientRect().bottom <= vh).length;
	out.FirstRowTop = rows.length ? rows[0].getBoundingClientRect().top + scrollY : 0;
	out.RowHeight = rows.length ? rows.reduce((s, r) => s + r.getBoundingClientRect().height, 0) / rows.length : 0;
	const check = (el, what) => {
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.left < 0 || r.right > vw + 0.5) out.Offscreen.push(what + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
	};
	document.querySelectorAll('.nav a').forEach(a => check(a, 'nav ' + a.textContent.trim()));
	rows.slice(0, 5).forEach((r, i) => {
		r.querySelectorAll('td.actions > button, td.actions > form button, td.actions > details > summary').forEach(b => check(b, 'row ' + i + ' ' + b.textContent.trim()));
		r.querySelectorAll('td[data-label="Status"], td[data-label="Expires"]').forEach(c => check(c, 'row ' + i + ' ' + c.dataset.label));
	});
	return out;
})()`

func TestBrowser_Phone390_ListsAreCardsWithActionsInView_NavFits(t *testing.T) {
	f := newConsoleFixture(t)
	f.addSessions(t, f.victor, 30)
	f.addSessions(t, f.admin, 3) // "Your sessions" of the admin: several devices
	ctx := newBrowser(t)
	if err := chromedp.Run(ctx, browserLogin(f.base, f.admin.Email, "password123")); err != nil {
		t.Fatal(err)
	}
	for _, size := range []struct{ w, h int64 }{{1280, 800}, {390, 844}} {
		for _, path := range []string{"/admin/sessions", "/account/sessions", "/admin/users", "/admin/audit"} {
			var l layout
			err := chromedp.Run(ctx, chromedp.EmulateViewport(size.w, size.h), chromedp.Navigate(f.base+path),
				chromedp.WaitVisible(`main`, chromedp.ByQuery), waitJS(htmxIdle), chromedp.Evaluate(measureLayout, &l))
			if err != nil {
				t.Fatalf("%s at %dx%d: %v", path, size.w, size.h, err)
			}
			t.Logf("%4dx%-4d %-18s rows above the fold %2d of %2d, first row at %4.0f px, %.0f px per row", size.w, size.h, path, l.RowsAboveFold, l.Rows, l.FirstRowTop, l.RowHeight)
			saveScreenshot(t, ctx, fmt.Sprintf("%s-%dx%d", strings.ReplaceAll(strings.Trim(path, "/"), "/", "-"), size.w, size.h))
			if l.PageWidth > int(size.w) || len(l.Offscreen) > 0 {
				t.Errorf("%s at %dx%d: page %d px wide; out of view: %s", path, size.w, size.h, l.PageWidth, strings.Join(l.Offscreen, "; "))
			}
			if l.Rows > 0 && l.RowsAboveFold == 0 {
				t.Errorf("%s at %dx%d: no row above the fold (first at %.0f px)", path, size.w, size.h, l.FirstRowTop)
			}
			if path == "/admin/sessions" && size.w == 1280 && (l.RowHeight > 44 || l.RowsAboveFold < 9) {
				t.Errorf("sessions at 1280x800: %.0f px rows, %d above the fold; want about 40 px rows", l.RowHeight, l.RowsAboveFold)
			}
		}
	}
}
