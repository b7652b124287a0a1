package app

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Column headers sort the list in place, say which order is on
// (aria-sort), work from the keyboard, and keep the user filter; the
// filter form then keeps the order.
func TestBrowser_SessionSort_HeadersOrderTheListAndKeepFilters(t *testing.T) {
	f := newConsoleFixture(t)
	ctx := newBrowser(t)
	var st struct {
		Rows   []string
		Sorted []string // each aria-sort header's "column:state"
		Search string
		Note   bool
	}
	const read = `({
		Rows: [...document.querySelectorAll('#sessions-table tbody tr')].map(r => r.id),
		Sorted: [...document.querySelectorAll('#sessions-table th[aria-sort]')].map(th => th.textContent.trim() + ':' + th.getAttribute('aria-sort')),
		Search: location.search,
		Note: !!document.querySelector('#filter-user'),
	})`
	row := func(id int64) string { return fmt.Sprintf("session-%d", id) }
	live, exp0, exp1 := row(f.victorLive.ID), row(f.victorExpired[0].ID), row(f.victorExpired[1].ID)
	userID := fmt.Sprintf("userId=%d", f.victor.ID)
	step := func(name string, rows []string, sorted string, inURL []string, actions ...chromedp.Action) {
		t.Helper()
		actions = append(actions, waitJS(htmxIdle), chromedp.Evaluate(read, &st))
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ok := slices.Equal(st.Rows, rows) && st.Note && len(st.Sorted) == 1 && strings.HasPrefix(st.Sorted[0], sorted)
		for _, w := range inURL {
			ok = ok && strings.Contains(st.Search, w)
		}
		if !ok {
			t.Fatalf("%s: page shows %+v, want rows %v, %s, URL with %v", name, st, rows, sorted, inURL)
		}
	}
	if err := chromedp.Run(ctx, browserLogin(f.base, f.admin.Email, "password123"), chromedp.Navigate(f.base+"/admin/sessions"),
		chromedp.WaitVisible(`#sessions-table`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	// All of Victor's sessions share a creation time, so newest first is by id.
	step("Victor, newest first", []string{exp1, exp0, live}, "Created", []string{userID},
		chromedp.Click(fmt.Sprintf(`#%s .user-link`, live), chromedp.ByQuery), waitJS(`!!document.querySelector('#filter-user')`))
	step("Expires: soonest first, Victor kept", []string{exp1, exp0, live}, "Expires ↑:ascending", []string{userID, "sort=expires"},
		chromedp.Click(`#sort-expires`, chromedp.ByQuery), waitJS(`location.search.includes('sort=expires')`))
	step("Expires again, from the keyboard: latest first", []string{live, exp0, exp1}, "Expires ↓:descending", []string{userID, "sort=-expires"},
		chromedp.Focus(`#sort-expires`, chromedp.ByQuery), chromedp.KeyEvent(kb.Enter), waitJS(`location.search.includes('sort=-expires')`))
	step("Status expired keeps the order and Victor", []string{exp0, exp1}, "Expires ↓:descending", []string{userID, "sort=-expires", "status=expired"},
		chromedp.SetValue(`#filter-status`, "expired", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#filter-status').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
		waitJS(`location.search.includes('status=expired')`))
	step("reload agrees", []string{exp0, exp1}, "Expires ↓:descending", []string{userID, "sort=-expires", "status=expired"},
		chromedp.Reload(), chromedp.WaitVisible(`#sessions-table`, chromedp.ByQuery))
}
