//go:build !race

package app

// This journey waits on focus moving after an htmx swap; under the race
// detector the server is several times slower and the browser's waits
// time out, so it runs in the normal pass only (CI runs both passes).

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"sessiond/models"
)

func TestBrowser_EndSession_ConfirmsInADialog_FocusStaysInTheList_PagingSaysWhere(t *testing.T) {
	f := newConsoleFixture(t)
	mine := f.addSessions(t, f.victor, 40)
	ctx := newBrowser(t)
	if err := chromedp.Run(ctx, browserLogin(f.base, f.admin.Email, "password123"), chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(f.base+"/admin/sessions"), chromedp.WaitVisible(`#sessions-table`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	second := mine[len(mine)-2] // newest first: the list's second row
	row := fmt.Sprintf(`#session-%d`, second.ID)
	var question, focus string
	var open bool
	// Cancel: the dialog says what would end, Escape closes it, nothing ends.
	err := chromedp.Run(ctx,
		chromedp.Click(row+` button.btn-danger`, chromedp.ByQuery),
		chromedp.WaitVisible(`#confirm-dialog`, chromedp.ByQuery),
		chromedp.Text(`#confirm-text`, &question, chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement.textContent.trim()`, &focus),
		chromedp.KeyEvent(kb.Escape),
		waitJS(`!document.querySelector('#confirm-dialog').open`),
		chromedp.Evaluate(`document.querySelector('#confirm-dialog').open`, &open),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(question, "Victor Target") || !strings.Contains(question, "victor@example.com") || focus != "Cancel" || open {
		t.Fatalf("dialog asked %q with focus on %q (open after Escape: %v)", question, focus, open)
	}
	if _, ok := sessionExists(t, f.a.db, second.ID); !ok {
		t.Fatal("cancel ended the session")
	}
	// Confirm by keyboard: the row leaves and focus lands on the row that
	// took its place, not at the top of the page. The question is opened
	// right after another one closed, in the same task, as a quick Escape
	// then Enter can: the first close's event arrives after the second
	// question opened and must not answer it.
	var focusRow, rangeText string
	err = chromedp.Run(ctx,
		chromedp.Evaluate(fmt.Sprintf(`(() => {
			document.querySelector('#session-%d button.btn-danger').click();
			document.querySelector('#confirm-dialog').close();
			const b = document.querySelector('%s button.btn-danger');
			b.focus();
			b.click();
		})()`, mine[len(mine)-3].ID, row), nil),
		chromedp.WaitVisible(`#confirm-dialog`, chromedp.ByQuery),
		chromedp.Focus(`#confirm-dialog [data-confirm-ok]`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter),
		waitJS(fmt.Sprintf(`!document.querySelector('%s')`, row)),
		waitJS(htmxIdle),
		waitJS(`document.activeElement && document.activeElement.closest('tbody tr') !== null`),
		chromedp.Evaluate(`document.activeElement.closest('tbody tr').id`, &focusRow),
		chromedp.Text(`#sessions-range`, &rangeText, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("session-%d", mine[len(mine)-3].ID); focusRow != want {
		t.Fatalf("focus on row %q after ending the second row, want %q", focusRow, want)
	}
	if _, ok := sessionExists(t, f.a.db, second.ID); ok {
		t.Fatal("the confirmed end did not happen")
	}
	// The counts follow: 40 + 5 fixture sessions + the admin's, one ended.
	if !strings.Contains(rangeText, "1–20 of 45") {
		t.Fatalf("range %q after the end, want 1–20 of 45", rangeText)
	}
	// The success toast says what ended, then leaves by itself (6 s).
	var toast string
	if err := chromedp.Run(ctx, chromedp.Text(`#toast`, &toast, chromedp.ByQuery),
		waitJS(`!document.querySelector('#toast .alert')`)); err != nil || !strings.Contains(toast, "Ended 1 session.") {
		t.Fatalf("toast %q: %v", toast, err)
	}
	// Paging: "Older" keeps the reader at the list, says where they are.
	var inView bool
	err = chromedp.Run(ctx,
		chromedp.ScrollIntoView(`a[rel=next]`, chromedp.ByQuery),
		chromedp.Click(`a[rel=next]`, chromedp.ByQuery),
		waitJS(`location.search.includes('cursor=')`),
		waitJS(htmxIdle),
		waitJS(`document.activeElement && document.activeElement.id === 'sessions-range'`),
		chromedp.Text(`#sessions-range`, &rangeText, chromedp.ByQuery),
		// In view: below the sticky top bar and above the bottom edge.
		chromedp.Evaluate(`(() => { const r = document.querySelector('#sessions-range').getBoundingClientRect(); return r.top >= document.querySelector('.topbar').getBoundingClientRect().bottom && r.bottom <= innerHeight; })()`, &inView),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rangeText, "21–40 of 45") || !inView {
		t.Fatalf("after Older: range %q, in view %v", rangeText, inView)
	}
	// Bulk: tick two rows, End 2 selected, confirm; both end, the list follows.
	first, third := mine[len(mine)-22], mine[len(mine)-24]
	var label string
	err = chromedp.Run(ctx,
		acceptConfirms(),
		chromedp.Click(fmt.Sprintf(`#session-%d td.select input`, first.ID), chromedp.ByQuery),
		chromedp.Click(fmt.Sprintf(`#session-%d td.select input`, third.ID), chromedp.ByQuery),
		chromedp.Text(`[data-bulk-submit]`, &label, chromedp.ByQuery),
		chromedp.Click(`[data-bulk-submit]`, chromedp.ByQuery),
		chromedp.WaitNotPresent(fmt.Sprintf(`#session-%d`, first.ID), chromedp.ByQuery),
		chromedp.WaitNotPresent(fmt.Sprintf(`#session-%d`, third.ID), chromedp.ByQuery),
		waitJS(htmxIdle),
		chromedp.Text(`#sessions-range`, &rangeText, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("bulk end: %v", err)
	}
	for _, s := range []*models.Session{first, third} {
		if _, ok := sessionExists(t, f.a.db, s.ID); ok {
			t.Fatalf("session %d survived the bulk end", s.ID)
		}
	}
	if label != "End 2 selected" || !strings.Contains(rangeText, "of 43") {
		t.Fatalf("bulk button %q, range after %q", label, rangeText)
	}
}
