package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// consoleFixture is an admin, two users with live and expired sessions,
// and a live server.
type consoleFixture struct {
	a             *testApp
	base          string
	admin         *models.User
	victor, olga  *models.User
	victorLive    *models.Session
	victorExpired []*models.Session
}

func newConsoleFixture(t *testing.T) *consoleFixture {
	t.Helper()
	db := testdb.SQLite(t)
	a, base := liveServer(t, db, nil)
	f := &consoleFixture{a: a, base: base, admin: testdb.CreateUser(t, db, "console-admin@example.com", models.RoleAdmin)}
	mkUser := func(email, name string) *models.User {
		u, err := models.CreateUser(context.Background(), db, models.NewUser{Email: email, Name: name, Password: "password123"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.victor, f.olga = mkUser("victor@example.com", "Victor Target"), mkUser("olga@example.com", "Olga Other")
	now := a.clock.Now()
	mk := func(u *models.User, expires time.Time) *models.Session {
		tok, _ := models.NewToken()
		s, err := a.srv.Sessions().CreateSession(context.Background(), tok, u.ID, expires,
			models.Client{IP: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	f.victorLive = mk(f.victor, now.Add(48*time.Hour))
	f.victorExpired = []*models.Session{mk(f.victor, now.Add(-time.Hour)), mk(f.victor, now.Add(-2*time.Hour))}
	mk(f.olga, now.Add(time.Hour))
	mk(f.olga, now.Add(-time.Hour))
	return f
}

// listState is what the sessions page shows: the controls and the rows.
type listState struct {
	Status, Limit, Q, Search string
	Rows                     []string
	Note                     bool
}

const readListState = `({
	Status: document.querySelector('#filter-status').value,
	Limit: document.querySelector('#filter-limit').value,
	Q: document.querySelector('#filter-q').value,
	Search: location.search,
	Rows: [...document.querySelectorAll('#sessions-table tbody tr .user-link')].map(a => a.textContent.trim()),
	Note: !!document.querySelector('#filter-user'),
})`

func TestBrowser_SessionFilters_CombineAndAgreeWithTheList(t *testing.T) {
	f := newConsoleFixture(t)
	ctx := newBrowser(t)
	var st listState
	check := func(step string, want func(listState) bool, actions ...chromedp.Action) {
		t.Helper()
		actions = append(actions, waitJS(htmxIdle), chromedp.Evaluate(readListState, &st))
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if !want(st) {
			t.Fatalf("%s: page shows %+v", step, st)
		}
	}
	only := func(name string, n int) func([]string) bool {
		return func(rows []string) bool {
			for _, r := range rows {
				if r != name {
					return false
				}
			}
			return len(rows) == n
		}
	}
	if err := chromedp.Run(ctx, browserLogin(f.base, f.admin.Email, "password123"), chromedp.Navigate(f.base+"/admin/sessions"),
		chromedp.WaitVisible(`#sessions-table`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	check("status expired", func(s listState) bool { return len(s.Rows) == 3 && strings.Contains(s.Search, "status=expired") },
		chromedp.SetValue(`#filter-status`, "expired", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#filter-status').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
		waitJS(`document.querySelectorAll('#sessions-table tbody tr').length === 3`))
	check("click Victor: his expired sessions, Status still Expired", func(s listState) bool {
		return only("Victor Target", 2)(s.Rows) && s.Status == "expired" && s.Note && strings.Contains(s.Search, fmt.Sprintf("userId=%d", f.victor.ID))
	},
		chromedp.Click(fmt.Sprintf(`#session-%d .user-link`, f.victorExpired[0].ID), chromedp.ByQuery),
		waitJS(`!!document.querySelector('#filter-user')`))
	check("Status active keeps Victor", func(s listState) bool {
		return only("Victor Target", 1)(s.Rows) && s.Note && strings.Contains(s.Search, fmt.Sprintf("userId=%d", f.victor.ID))
	},
		chromedp.SetValue(`#filter-status`, "active", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#filter-status').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
		waitJS(fmt.Sprintf(`!!document.querySelector('#session-%d')`, f.victorLive.ID)))
	check("Per page keeps Victor and Status", func(s listState) bool {
		return only("Victor Target", 1)(s.Rows) && s.Limit == "50" && strings.Contains(s.Search, "limit=50") && strings.Contains(s.Search, "status=active")
	},
		chromedp.SetValue(`#filter-limit`, "50", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#filter-limit').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
		waitJS(`location.search.includes('limit=50')`))
	check("search by IP keeps Victor", func(s listState) bool {
		return only("Victor Target", 1)(s.Rows) && strings.Contains(s.Search, "q=192.0.2") && strings.Contains(s.Search, "userId=")
	},
		chromedp.SendKeys(`#filter-q`, "192.0.2", chromedp.ByQuery),
		waitJS(`location.search.includes('q=192.0.2')`))
	check("Show everyone keeps Status and search, lists both users' active sessions", func(s listState) bool {
		return s.Status == "active" && !s.Note && len(s.Rows) == 2 && !strings.Contains(s.Search, "userId") && strings.Contains(s.Search, "status=active")
	},
		chromedp.Click(`#show-everyone`, chromedp.ByQuery),
		waitJS(`!document.querySelector('#filter-user')`))
	// Back to the page as loaded from the address bar: the same controls.
	check("reload agrees", func(s listState) bool {
		return s.Status == "active" && s.Limit == "50" && s.Q == "192.0.2" && len(s.Rows) == 2
	},
		chromedp.Reload(), chromedp.WaitVisible(`#sessions-table`, chromedp.ByQuery))
}

func TestBrowser_EndedSession_SaysSoAndReturnsToThePage(t *testing.T) {
	f := newConsoleFixture(t)
	ctx := newBrowser(t)
	m := f.a.srv.Sessions()
	page := "/admin/sessions?status=active"
	var notice, path string
	err := chromedp.Run(ctx,
		browserLogin(f.base, f.admin.Email, "password123"),
		chromedp.Navigate(f.base+page),
		chromedp.WaitVisible(`#sessions-table`, chromedp.ByQuery),
		acceptConfirms(),
		// The admin's own session ends elsewhere (another tab signed out).
		chromedp.ActionFunc(func(context.Context) error {
			_, err := m.DeleteUserSessionsExcept(context.Background(), f.admin.ID, 0, models.EventUserForceLogout, models.Audit{})
			return err
		}),
		// The next action on the open page: honest words, not a CSRF error.
		chromedp.Click(fmt.Sprintf(`#session-%d button.btn-danger`, f.victorLive.ID), chromedp.ByQuery),
		chromedp.WaitVisible(`#login-notice`, chromedp.ByQuery),
		chromedp.Text(`#login-notice`, &notice, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, f.admin.Email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "password123", chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sessions-table`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname + location.search`, &path),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(notice, "Your session ended — sign in again") || path != page {
		t.Fatalf("notice %q, back at %q, want %q", notice, path, page)
	}
	if _, ok := sessionExists(t, f.a.db, f.victorLive.ID); !ok {
		t.Fatal("the refused action ran")
	}

	// A user force-logged-out by an admin: the next page says why and
	// brings them back after signing in.
	user := newBrowser(t)
	err = chromedp.Run(user,
		browserLogin(f.base, f.olga.Email, "password123"),
		chromedp.Navigate(f.base+"/account/password"),
		chromedp.WaitVisible(`#main`, chromedp.ByQuery),
		chromedp.ActionFunc(func(context.Context) error {
			_, err := m.DeleteUserSessions(context.Background(), f.olga.ID, models.Audit{ActorID: f.admin.ID})
			return err
		}),
		chromedp.Click(`a[href="/account/sessions"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#login-notice`, chromedp.ByQuery),
		chromedp.Text(`#login-notice`, &notice, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, f.olga.Email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "password123", chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#account-sessions`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice, "An administrator signed you out on every device.") || path != "/account/sessions" {
		t.Fatalf("notice %q, back at %q", notice, path)
	}
}
