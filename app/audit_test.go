package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// auditEnv trusts the in-memory test peer (0.0.0.0) as a proxy, so each
// request can say which client IP it comes from.
func auditEnv(extra map[string]string) map[string]string {
	env := map[string]string{"TRUSTED_PROXIES": "0.0.0.0"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func from(ip, ua string) http.Header {
	return http.Header{"X-Forwarded-For": {ip}, "User-Agent": {ua}}
}

// signIn posts the login form from ip with user agent ua and returns the status.
func (c *client) signIn(email, password, ip, ua string) int {
	c.app.t.Helper()
	c.page("/login")
	h := from(ip, ua)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	v := url.Values{"email": {email}, "password": {password}, "_csrf": {c.csrf}}
	resp := c.request("POST", "/login", strings.NewReader(v.Encode()), h)
	resp.Body.Close()
	return resp.StatusCode
}

func lastEventID(t testing.TB, db *models.DB) int64 {
	t.Helper()
	var id int64
	if err := db.NewSelect().Table("session_events").ColumnExpr("COALESCE(MAX(id), 0)").Scan(context.Background(), &id); err != nil {
		t.Fatal(err)
	}
	return id
}

func eventsAfter(t testing.TB, db *models.DB, id int64) []models.Event {
	t.Helper()
	var evs []models.Event
	if err := db.NewSelect().Model(&evs).Where("id > ?", id).Order("id").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	return evs
}

func idOf(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// wantEvent is what one action must have written.
type wantEvent struct {
	kind                       string
	user, actor, session       int64
	ip, ua, detail             string
	detailContains, detailNone string
}

// oneEvent runs action and checks it wrote exactly one event, matching w.
func oneEvent(t *testing.T, db *models.DB, name string, w wantEvent, action func()) models.Event {
	t.Helper()
	mark := lastEventID(t, db)
	action()
	evs := eventsAfter(t, db, mark)
	if len(evs) != 1 {
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind)
		}
		t.Fatalf("%s: %d events %v, want exactly one %s", name, len(evs), kinds, w.kind)
	}
	e := evs[0]
	if e.Kind != w.kind || idOf(e.UserID) != w.user || idOf(e.ActorID) != w.actor || e.IP != w.ip || e.UserAgent != w.ua {
		t.Fatalf("%s: got kind=%s user=%d actor=%d ip=%q ua=%q; want %s user=%d actor=%d ip=%q ua=%q", name,
			e.Kind, idOf(e.UserID), idOf(e.ActorID), e.IP, e.UserAgent, w.kind, w.user, w.actor, w.ip, w.ua)
	}
	if w.session != -1 && idOf(e.SessionID) != w.session {
		t.Fatalf("%s: session %d, want %d", name, idOf(e.SessionID), w.session)
	}
	if w.detail != "" && e.Detail != w.detail {
		t.Fatalf("%s: detail %q, want %q", name, e.Detail, w.detail)
	}
	if w.detailNone != "" && strings.Contains(e.Detail, w.detailNone) {
		t.Fatalf("%s: detail %q holds %q", name, e.Detail, w.detailNone)
	}
	return e
}

func TestAuditEvents_EachAction_WritesExactlyOneEvent_WithKindUserActorIPAndUserAgent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, auditEnv(nil))
		ctx := context.Background()
		u := testdb.CreateUser(t, db, "ev-user@example.com", models.RoleUser)
		admin := testdb.CreateUser(t, db, "ev-admin@example.com", models.RoleAdmin)
		adminAudit := models.Audit{ActorID: admin.ID, IP: "198.51.100.1", UserAgent: "AdminUA/1"}
		c := a.client()

		var sess *models.Session
		oneEvent(t, db, "sign-in", wantEvent{kind: models.EventSessionCreated, user: u.ID, actor: u.ID, session: -1, ip: "203.0.113.1", ua: "SignIn/1"}, func() {
			if st := c.signIn(u.Email, "password123", "203.0.113.1", "SignIn/1"); st != http.StatusSeeOther {
				t.Fatalf("sign-in: %d", st)
			}
			var err error
			if sess, err = a.srv.Sessions().GetSession(ctx, c.cookie()); err != nil {
				t.Fatal(err)
			}
		})
		a.clock.Advance(25 * time.Hour)
		oneEvent(t, db, "extend", wantEvent{kind: models.EventSessionExtended, user: u.ID, actor: u.ID, session: sess.ID, ip: "203.0.113.2", ua: "Extend/1"}, func() {
			resp := c.request("GET", "/api/me", nil, from("203.0.113.2", "Extend/1"))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/api/me: %d", resp.StatusCode)
			}
		})
		stranger := a.client()
		oneEvent(t, db, "failed sign-in, known email", wantEvent{kind: models.EventSignInFailed, user: u.ID, ip: "203.0.113.3", ua: "Fail/1", detail: "email=" + u.Email, detailNone: "wrong-pass"}, func() {
			if st := stranger.signIn(u.Email, "wrong-pass-1", "203.0.113.3", "Fail/1"); st != http.StatusUnauthorized {
				t.Fatalf("failed sign-in: %d", st)
			}
		})
		e := oneEvent(t, db, "failed sign-in, unknown email", wantEvent{kind: models.EventSignInFailed, ip: "203.0.113.4", ua: "Fail/2", detailNone: "nobody"}, func() {
			if st := stranger.signIn("nobody@example.com", "wrong-pass-2", "203.0.113.4", "Fail/2"); st != http.StatusUnauthorized {
				t.Fatalf("failed sign-in: %d", st)
			}
		})
		if e.Detail != "" {
			t.Fatalf("unknown email recorded: %q", e.Detail)
		}

		// A second device, revoked by the admin.
		other := a.client()
		other.signIn(u.Email, "password123", "203.0.113.5", "Phone/1")
		os, err := a.srv.Sessions().GetSession(ctx, other.cookie())
		if err != nil {
			t.Fatal(err)
		}
		oneEvent(t, db, "admin revoke", wantEvent{kind: models.EventSessionRevoked, user: u.ID, actor: admin.ID, session: os.ID, ip: adminAudit.IP, ua: adminAudit.UserAgent}, func() {
			if _, err := a.srv.sessions.DeleteSessionByID(ctx, os.ID, models.EventSessionRevoked, adminAudit); err != nil {
				t.Fatal(err)
			}
		})
		oneEvent(t, db, "sign-out", wantEvent{kind: models.EventSessionSignedOut, user: u.ID, actor: u.ID, session: sess.ID, ip: "203.0.113.6", ua: "SignOut/1"}, func() {
			h := from("203.0.113.6", "SignOut/1")
			h.Set("Content-Type", "application/x-www-form-urlencoded")
			c.page("/")
			resp := c.request("POST", "/logout", strings.NewReader(url.Values{"_csrf": {c.csrf}}.Encode()), h)
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout: %d", resp.StatusCode)
			}
		})

		for i := 0; i < 2; i++ {
			if _, _, err := signInAs(a.srv.sessions, ctx, u.ID, models.Client{}); err != nil {
				t.Fatal(err)
			}
		}
		oneEvent(t, db, "force logout", wantEvent{kind: models.EventUserForceLogout, user: u.ID, actor: admin.ID, ip: adminAudit.IP, ua: adminAudit.UserAgent, detail: "sessions=2"}, func() {
			if n, err := a.srv.sessions.DeleteUserSessions(ctx, u.ID, adminAudit); err != nil || n != 2 {
				t.Fatalf("force logout: %d, %v", n, err)
			}
		})
		signInAs(a.srv.sessions, ctx, u.ID, models.Client{})
		oneEvent(t, db, "role change", wantEvent{kind: models.EventUserRoleChanged, user: u.ID, actor: admin.ID, ip: adminAudit.IP, ua: adminAudit.UserAgent, detail: "role=admin sessions=1"}, func() {
			if _, err := models.SetUserRole(ctx, db, u.ID, models.RoleAdmin, adminAudit, a.clock.Now()); err != nil {
				t.Fatal(err)
			}
		})
		_, keep, _ := signInAs(a.srv.sessions, ctx, u.ID, models.Client{})
		signInAs(a.srv.sessions, ctx, u.ID, models.Client{})
		self := models.Audit{ActorID: u.ID, IP: "203.0.113.7", UserAgent: "Password/1"}
		oneEvent(t, db, "password change", wantEvent{kind: models.EventPasswordChanged, user: u.ID, actor: u.ID, session: keep.ID, ip: self.IP, ua: self.UserAgent, detail: "sessions=1", detailNone: "new-password"}, func() {
			if _, err := models.SetUserPassword(ctx, db, u.ID, "new-password-1", keep.ID, self, a.clock.Now()); err != nil {
				t.Fatal(err)
			}
		})
		oneEvent(t, db, "user deleted", wantEvent{kind: models.EventUserDeleted, user: u.ID, actor: admin.ID, ip: adminAudit.IP, ua: adminAudit.UserAgent, detail: "sessions=1"}, func() {
			if _, err := models.DeleteUser(ctx, db, u.ID, adminAudit, a.clock.Now()); err != nil {
				t.Fatal(err)
			}
		})

		// Nothing in the trail can sign anyone in or reveal a password.
		for _, e := range eventsAfter(t, db, 0) {
			row := fmt.Sprintf("%+v", e)
			for _, secret := range []string{"password123", "wrong-pass", "new-password", c.cookie(), other.cookie(), sess.TokenHash} {
				if secret != "" && strings.Contains(row, secret) {
					t.Fatalf("event %d holds a secret: %s", e.ID, row)
				}
			}
		}
	})
}

// seedEvents writes n events spread over kinds, users and days, oldest
// first, several sharing one instant (the cursor must keep them apart).
func seedEvents(t *testing.T, db *models.DB, base time.Time, users []int64, n int) []models.Event {
	t.Helper()
	kinds := []string{models.EventSessionCreated, models.EventSignInFailed, models.EventSessionRevoked, models.EventUserForceLogout}
	var out []models.Event
	for i := 0; i < n; i++ {
		uid := users[i%len(users)]
		e := &models.Event{
			At: base.Add(time.Duration(i/3) * 7 * time.Hour), Kind: kinds[i%len(kinds)], UserID: &uid,
			IP: fmt.Sprintf("192.0.2.%d", i), UserAgent: fmt.Sprintf("Agent/%d", i), Detail: fmt.Sprintf("n=%d", i),
		}
		if i == 5 {
			e.UserAgent = "=HYPERLINK(\"http://evil.example\")"
			e.Detail = "+1-1@x"
		}
		if err := models.RecordEvent(context.Background(), db, e); err != nil {
			t.Fatal(err)
		}
		out = append(out, *e)
	}
	return out
}

// expectIDs filters seeded events like the server should, newest first.
func expectIDs(evs []models.Event, keep func(models.Event) bool) []int64 {
	var ids []int64
	for i := len(evs) - 1; i >= 0; i-- {
		if keep(evs[i]) {
			ids = append(ids, evs[i].ID)
		}
	}
	return ids
}

type auditPage struct {
	Events     []models.AuditEvent `json:"events"`
	Limit      int                 `json:"limit"`
	NextCursor string              `json:"nextCursor"`
}

// allPages follows nextCursor from the first page and returns every id.
func allPages(t *testing.T, c *client, query url.Values) ([]int64, int) {
	t.Helper()
	var ids []int64
	pages := 0
	for cursor := ""; ; {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		resp := c.api("GET", "/admin/audit?"+q.Encode(), nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("audit %s: %d %s", q.Encode(), resp.StatusCode, body)
		}
		var p auditPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range p.Events {
			ids = append(ids, e.ID)
		}
		if p.NextCursor == "" {
			return ids, pages
		}
		cursor = p.NextCursor
		if pages > 100 {
			t.Fatal("paging does not end")
		}
	}
}

func csvIDs(t *testing.T, c *client, query url.Values) ([]int64, [][]string) {
	t.Helper()
	resp := c.request("GET", "/admin/audit.csv?"+query.Encode(), nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("csv %s: %d %s", query.Encode(), resp.StatusCode, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") || !strings.HasSuffix(cd, `.csv"`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("Content-Type %q", ct)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], csvHeader) {
		t.Fatalf("csv header %v", rows[0])
	}
	var ids []int64
	for _, r := range rows[1:] {
		var id int64
		fmt.Sscan(r[0], &id)
		ids = append(ids, id)
	}
	return ids, rows[1:]
}

func TestAuditList_FiltersPagingAndCSV_ReturnExactlyTheMatchingRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admin := testdb.CreateUser(t, db, "audit-admin@example.com", models.RoleAdmin)
		u1 := testdb.CreateUser(t, db, "audit-u1@example.com", models.RoleUser)
		u2 := testdb.CreateUser(t, db, "audit-u2@example.com", models.RoleUser)
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		evs := seedEvents(t, db, base, []int64{u1.ID, u2.ID, u1.ID}, 60) // 20 × 7 h ≈ 6 days
		c := a.client()
		c.login(admin.Email, "password123")
		// Only the seeded events: the admin's own sign-in is after them and filtered by date.
		to := base.AddDate(0, 0, 10).Format(time.DateOnly)
		seeded := func(e models.Event) bool { return e.At.Before(base.AddDate(0, 0, 11)) }

		cases := []struct {
			name  string
			query url.Values
			keep  func(models.Event) bool
		}{
			{"all, small pages", url.Values{"to": {to}, "limit": {"7"}}, seeded},
			{"one page exactly", url.Values{"to": {to}, "limit": {"60"}}, seeded},
			{"by user", url.Values{"to": {to}, "userId": {fmt.Sprint(u2.ID)}, "limit": {"4"}}, func(e models.Event) bool { return *e.UserID == u2.ID }},
			{"by kind", url.Values{"to": {to}, "kind": {models.EventSignInFailed}, "limit": {"5"}}, func(e models.Event) bool { return e.Kind == models.EventSignInFailed }},
			{"date range (days, inclusive)", url.Values{"from": {"2026-03-02"}, "to": {"2026-03-03"}, "limit": {"3"}}, func(e models.Event) bool {
				return !e.At.Before(base.AddDate(0, 0, 1)) && e.At.Before(base.AddDate(0, 0, 3))
			}},
			{"RFC 3339 range, user and kind", url.Values{"from": {base.Add(14 * time.Hour).Format(time.RFC3339)}, "to": {base.Add(100 * time.Hour).Format(time.RFC3339)},
				"userId": {fmt.Sprint(u1.ID)}, "kind": {models.EventSessionCreated}, "limit": {"2"}}, func(e models.Event) bool {
				return !e.At.Before(base.Add(14*time.Hour)) && e.At.Before(base.Add(100*time.Hour)) && *e.UserID == u1.ID && e.Kind == models.EventSessionCreated
			}},
			{"no match", url.Values{"userId": {"999999"}}, func(models.Event) bool { return false }},
		}
		for _, tc := range cases {
			want := expectIDs(evs, tc.keep)
			got, pages := allPages(t, c, tc.query)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: JSON pages gave %v, want %v", tc.name, got, want)
			}
			if l := tc.query.Get("limit"); l != "" && len(want) > 0 {
				var n int
				fmt.Sscan(l, &n)
				if wantPages := (len(want) + n - 1) / n; pages != wantPages && pages != wantPages+1 {
					t.Fatalf("%s: %d pages for %d rows of %d", tc.name, pages, len(want), n)
				}
			}
			csvGot, _ := csvIDs(t, c, tc.query)
			if !slices.Equal(csvGot, want) {
				t.Fatalf("%s: CSV gave %v, want %v", tc.name, csvGot, want)
			}
		}

		// Formula cells are defused.
		_, rows := csvIDs(t, c, url.Values{"to": {to}})
		found := false
		for _, r := range rows {
			if r[0] == fmt.Sprint(evs[5].ID) {
				found = true
				if r[9] != `'=HYPERLINK("http://evil.example")` || r[10] != "'+1-1@x" {
					t.Fatalf("CSV injection not defused: %q %q", r[9], r[10])
				}
			}
		}
		if !found {
			t.Fatal("event 5 missing from the CSV")
		}

		// htmx gets the table fragment with paging links that push the URL; a browser the page.
		resp := c.request("GET", "/admin/audit?limit=5&to="+to, nil, http.Header{"HX-Request": {"true"}})
		body := readBody(t, resp)
		if !strings.HasPrefix(strings.TrimSpace(body), `<div id="audit-table"`) || strings.Contains(body, "<html") ||
			!strings.Contains(body, `hx-push-url="true"`) || !strings.Contains(body, "cursor=") || resp.Header.Get("Vary") == "" {
			t.Fatalf("htmx fragment: %.300s", body)
		}
		_, page := c.page("/admin/audit?limit=5&to=" + to)
		if !strings.Contains(page, "<html") || !strings.Contains(page, `id="audit-table"`) || !strings.Contains(page, "/admin/audit.csv?") {
			t.Fatalf("full page: %.300s", page)
		}

		// Bad input is a 400 naming the parameter.
		for _, bad := range []struct{ q, param string }{
			{"userId=abc", "userId"}, {"userId=0", "userId"}, {"kind=session.nope", "kind"},
			{"from=2026-13-01", "from"}, {"to=yesterday", "to"}, {"from=2026-03-05&to=2026-03-01", "to"},
			{"limit=0", "limit"}, {"limit=201", "limit"}, {"limit=x", "limit"}, {"cursor=abc", "cursor"}, {"cursor=1.-2", "cursor"},
		} {
			for _, path := range []string{"/admin/audit?", "/admin/audit.csv?"} {
				resp := c.api("GET", path+bad.q, nil)
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, bad.param) {
					t.Fatalf("%s%s: %d %s", path, bad.q, resp.StatusCode, body)
				}
			}
		}

	})
}
