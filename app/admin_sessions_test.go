package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// adminFixture is an app with a signed-in admin, a signed-in user and one
// expired session of that user.
type adminFixture struct {
	a            *testApp
	admin, user  *models.User
	ac, uc       *client
	userSession  *models.Session
	expiredToken string
}

func newAdminFixture(t *testing.T, db *models.DB) *adminFixture {
	t.Helper()
	f := &adminFixture{a: newTestApp(t, db, nil)}
	f.admin = testdb.CreateUser(t, db, "console-admin@example.com", models.RoleAdmin)
	f.user = testdb.CreateUser(t, db, "console-user@example.com", models.RoleUser)
	f.ac, f.uc = f.a.client(), f.a.client()
	f.ac.login(f.admin.Email, "password123")
	f.uc.login(f.user.Email, "password123")
	var err error
	if f.userSession, err = f.a.srv.Sessions().GetSession(context.Background(), f.uc.cookie()); err != nil {
		t.Fatal(err)
	}
	f.expiredToken, _ = models.NewToken()
	if _, err := f.a.srv.Sessions().CreateSession(context.Background(), f.expiredToken, f.user.ID, f.a.clock.Now().Add(-time.Hour), models.Client{IP: "198.51.100.9", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func getJSON(t *testing.T, c *client, path string, want int, v any) {
	t.Helper()
	resp := c.request("GET", path, nil, http.Header{"Accept": {"application/json"}})
	body := readBody(t, resp)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, want)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

func TestAdminSessions_FragmentRules_FullPageUnlessPlainHTMX_VaryHXRequest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		for _, tc := range []struct{ path, root string }{
			{"/admin/sessions", `<div id="sessions-table"`},
			{"/admin/sessions?status=active&q=console", `<div id="sessions-table"`},
			{"/admin/sessions/stats", `<section id="session-stats"`},
		} {
			for _, h := range []struct {
				name     string
				header   http.Header
				fragment bool
			}{
				{"plain", nil, false},
				{"htmx", http.Header{"Hx-Request": {"true"}}, true},
				{"boosted", http.Header{"Hx-Request": {"true"}, "Hx-Boosted": {"true"}}, false},
				{"history restore", http.Header{"Hx-Request": {"true"}, "Hx-History-Restore-Request": {"true"}}, false},
			} {
				resp := f.ac.request("GET", tc.path, nil, h.header)
				body := readBody(t, resp)
				if resp.StatusCode != 200 {
					t.Fatalf("%s %s: %d", tc.path, h.name, resp.StatusCode)
				}
				if !strings.Contains(resp.Header.Get("Vary"), "HX-Request") {
					t.Errorf("%s %s: Vary %q", tc.path, h.name, resp.Header.Get("Vary"))
				}
				full := strings.Contains(body, "<html")
				if full == h.fragment || !strings.Contains(body, tc.root) {
					t.Errorf("%s %s: full page %v, want %v; root present %v", tc.path, h.name, full, !h.fragment, strings.Contains(body, tc.root))
				}
				if h.fragment && !strings.HasPrefix(strings.TrimSpace(body), tc.root) {
					t.Errorf("%s %s: fragment does not start with its root: %.80q", tc.path, h.name, body)
				}
			}
		}
	})
}

func TestAdminSessions_BadQuery_400NamesTheParameter(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		// JSON names the parameter; the toast names the control people see.
		for _, tc := range []struct{ query, param, label string }{
			{"page=-1", "page", "Page"}, {"page=abc", "page", "Page"}, {"page=0", "page", "Page"}, {"page=1.5", "page", "Page"},
			{"limit=0", "limit", "Per page"}, {"limit=101", "limit", "Per page"}, {"limit=x", "limit", "Per page"},
			{"userId=abc", "userId", "User"}, {"userId=-3", "userId", "User"}, {"userId=99999999999999999999", "userId", "User"},
			{"status=bogus", "status", "Status"}, {"cursor=nonsense", "cursor", "This page link"}, {"q=%00", "q", "Search"},
			{"sort=id", "sort", "Sort order"}, {"sort=-", "sort", "Sort order"}, {"sort=created%3B", "sort", "Sort order"},
		} {
			for _, hx := range []bool{false, true} {
				h, want := http.Header{"Accept": {"application/json"}}, `"error":"`+tc.param+`:`
				if hx {
					h, want = http.Header{"Hx-Request": {"true"}}, `data-toast-close aria-label="Dismiss">×</button>`+tc.label
				}
				resp := f.ac.request("GET", "/admin/sessions?"+tc.query, nil, h)
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, want) {
					t.Errorf("%s (htmx %v): %d %.120s, want 400 with %s", tc.query, hx, resp.StatusCode, body, want)
				}
			}
		}
		for _, tc := range []struct {
			method, path string
			form         url.Values
			param        string
		}{
			{"DELETE", "/admin/sessions", url.Values{}, "sessionToken"},
			{"DELETE", "/admin/sessions", url.Values{"id": {"abc"}}, "id"},
			{"DELETE", "/admin/sessions", url.Values{"userId": {"0"}}, "userId"},
			{"DELETE", "/admin/sessions/abc", url.Values{}, "id"},
			{"POST", "/admin/sessions", url.Values{"action": {"explode"}}, "action"},
		} {
			resp := f.ac.api(tc.method, tc.path, tc.form)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.param) {
				t.Errorf("%s %s %v: %d %s, want 400 naming %s", tc.method, tc.path, tc.form, resp.StatusCode, body, tc.param)
			}
		}
	})
}

func TestAdminSessions_QueryWithWildcardsAndQuotes_MatchesLiterally(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		odd, err := models.CreateUser(context.Background(), db, models.NewUser{Email: "o'neil_100%@example.com", Name: `Dana "Q" O'Neil`, Password: "password123"}, f.a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := signInAs(f.a.srv.Sessions(), context.Background(), odd.ID, models.Client{}); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[string]int{
			// "_" also matches the fixture's browser (x86_64): the search covers IP and device.
			"%": 1, "_": 2, "'": 1, `"q"`: 1, "100%": 1, "l_1": 1, "o'neil": 1, "e%": 0, "o_n": 0, "console": 3, "": 4,
		} {
			var got struct {
				Sessions []struct {
					UserID int64 `json:"userId"`
				} `json:"sessions"`
				Total int `json:"total"`
			}
			getJSON(t, f.ac, "/admin/sessions?q="+url.QueryEscape(q), 200, &got)
			if len(got.Sessions) != want || got.Total != want {
				t.Errorf("q=%q: %d rows (total %d), want %d", q, len(got.Sessions), got.Total, want)
			}
		}
	})
}

func TestAdminSessions_DeleteUnknownID404_SecondDelete404(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		id := f.userSession.ID
		for i, want := range []int{200, 404, 404} {
			resp := f.ac.api("DELETE", fmt.Sprintf("/admin/sessions/%d", id), nil)
			body := readBody(t, resp)
			if resp.StatusCode != want {
				t.Fatalf("delete #%d: %d %s, want %d", i+1, resp.StatusCode, body, want)
			}
			if want == 200 && body != `{"deleted":1}` {
				t.Fatalf("delete body %s", body)
			}
		}
		for _, path := range []string{"/admin/sessions/987654", "/admin/sessions?id=987654"} {
			resp := f.ac.api("DELETE", path, nil)
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Fatalf("DELETE %s: %d, want 404", path, resp.StatusCode)
			}
		}
		if f.uc.signedIn() {
			t.Fatal("the user's deleted session still works")
		}
	})
}

func TestAdminSessions_JSONShapes_FieldByField(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		var list map[string]json.RawMessage
		getJSON(t, f.ac, "/admin/sessions?limit=2", 200, &list)
		for _, k := range []string{"sessions", "page", "limit", "total", "totalIsEstimate", "totalPages", "nextCursor"} {
			if _, ok := list[k]; !ok {
				t.Errorf("list has no %q: %v", k, keys(list))
			}
		}
		if string(list["page"]) != "1" || string(list["limit"]) != "2" || string(list["total"]) != "3" || string(list["totalPages"]) != "2" {
			t.Errorf("page %s limit %s total %s totalPages %s", list["page"], list["limit"], list["total"], list["totalPages"])
		}
		var next struct {
			Sessions []map[string]any `json:"sessions"`
			Page     *int             `json:"page"`
		}
		var cursor string
		_ = json.Unmarshal(list["nextCursor"], &cursor)
		getJSON(t, f.ac, "/admin/sessions?limit=2&cursor="+url.QueryEscape(cursor), 200, &next)
		if len(next.Sessions) != 1 || next.Page != nil || next.Sessions[0]["userId"] != float64(f.admin.ID) {
			t.Fatalf("cursor page: %d sessions, page %v", len(next.Sessions), next.Page)
		}
		var expired struct {
			Sessions []map[string]any `json:"sessions"`
		}
		getJSON(t, f.ac, "/admin/sessions?status=expired", 200, &expired)
		if len(expired.Sessions) != 1 {
			t.Fatalf("%d expired sessions", len(expired.Sessions))
		}
		ex := expired.Sessions[0]
		want := map[string]any{
			"userId": float64(f.user.ID), "status": "expired", "expiresIn": float64(0), "ip": "198.51.100.9",
			"userAgent":    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			"sessionToken": models.HashToken(f.expiredToken)[:12],
		}
		for k, v := range want {
			if ex[k] != v {
				t.Errorf("%s = %#v, want %#v", k, ex[k], v)
			}
		}
		for _, k := range []string{"id", "createdAt", "lastSeenAt", "expires"} {
			if ex[k] == nil {
				t.Errorf("session has no %s", k)
			}
		}
		if exp, _ := time.Parse(time.RFC3339Nano, ex["expires"].(string)); !exp.Before(f.a.clock.Now()) {
			t.Errorf("expires %v", ex["expires"])
		}
		u, _ := ex["user"].(map[string]any)
		if u["id"] != float64(f.user.ID) || u["email"] != f.user.Email || u["name"] != f.user.Name || u["role"] != "user" || len(u) != 4 {
			t.Errorf("user %v", u)
		}
		if amr, _ := ex["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" || ex["strongAt"] == nil {
			t.Errorf("amr %v strongAt %v, want [pwd] and a time", ex["amr"], ex["strongAt"])
		}
		if _, ok := ex["signInFlags"].([]any); !ok || ex["country"] != "" || ex["city"] != "" {
			t.Errorf("country %v city %v signInFlags %v: want \"\", \"\" (no GEOIP_DB) and a list", ex["country"], ex["city"], ex["signInFlags"])
		}
		if ex["provider"] != nil {
			t.Errorf("provider %v, want null for a password sign-in", ex["provider"])
		}
		if len(ex) != 17 {
			t.Errorf("session has %d fields: %v", len(ex), ex)
		}
		var st map[string]any
		getJSON(t, f.ac, "/admin/sessions/stats", 200, &st)
		if st["active"] != float64(2) || st["expired"] != float64(1) || st["expiringWithin24h"] != float64(0) ||
			st["usersWithSessions"] != float64(2) || st["total"] != float64(3) || st["lastCleanup"] != nil {
			t.Errorf("stats %v", st)
		}
		resp := f.ac.api("POST", "/admin/sessions", url.Values{"action": {"cleanup"}})
		if body := readBody(t, resp); resp.StatusCode != 200 || body != `{"deleted":1}` {
			t.Fatalf("cleanup: %d %s", resp.StatusCode, body)
		}
		getJSON(t, f.ac, "/admin/sessions/stats", 200, &st)
		if st["expired"] != float64(0) {
			t.Errorf("after cleanup: %v", st)
		}
	})
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAdminSessions_DeleteByTokenUserOrJSONBody_AndOwnSessionSignsOut(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		// By raw token (hashed server-side): the user's browser is signed out.
		resp := f.ac.api("DELETE", "/admin/sessions", url.Values{"sessionToken": {f.uc.cookie()}})
		if body := readBody(t, resp); body != `{"deleted":1}` {
			t.Fatalf("by token: %s", body)
		}
		if f.uc.signedIn() {
			t.Fatal("revoked token still signed in")
		}
		// All of a user's, in a JSON body.
		h := http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}, "X-Csrf-Token": {f.ac.csrf}}
		resp = f.ac.request("DELETE", "/admin/sessions", strings.NewReader(fmt.Sprintf(`{"userId": %d}`, f.user.ID)), h)
		if body := readBody(t, resp); body != `{"deleted":1}` {
			t.Fatalf("by userId: %s", body)
		}
		// htmx: the row target gets an empty body plus a toast out of band,
		// and the counts hear sessions-changed.
		f.uc.login(f.user.Email, "password123")
		us, _ := f.a.srv.Sessions().GetSession(context.Background(), f.uc.cookie())
		hx := http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {f.ac.csrf}}
		resp = f.ac.request("DELETE", fmt.Sprintf("/admin/sessions/%d", us.ID), nil, hx)
		body := readBody(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("HX-Trigger"), "sessions-changed") ||
			!strings.Contains(body, `hx-swap-oob="true"`) || !strings.Contains(body, "Ended 1 session") {
			t.Fatalf("htmx delete: %d %q %s", resp.StatusCode, resp.Header.Get("HX-Trigger"), body)
		}
		// The admin's own session: cookie cleared, sent to /login.
		own, _ := f.a.srv.Sessions().GetSession(context.Background(), f.ac.cookie())
		_, page := f.ac.page("/admin/sessions")
		if !strings.Contains(page, "This session") {
			t.Fatal("own session not marked")
		}
		resp = f.ac.request("DELETE", fmt.Sprintf("/admin/sessions/%d", own.ID), nil, hx)
		resp.Body.Close()
		if resp.Header.Get("HX-Redirect") != "/login" || f.ac.cookie() != "" {
			t.Fatalf("own delete: HX-Redirect %q, cookie left %v", resp.Header.Get("HX-Redirect"), f.ac.cookie() != "")
		}
		if f.ac.signedIn() {
			t.Fatal("admin still signed in")
		}
	})
}

func TestAdminSessions_PageShowsEscapedRowsBadgesAndEmptyState(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		_, page := f.ac.page("/admin/sessions")
		for _, want := range []string{"badge-expired", "Firefox 128 on Linux", "198.51.100.9",
			f.user.Email, `hx-push-url="true"`, `id="session-stats"`, `href="/admin/cleanup"`, "ago"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		_, page = f.ac.page("/admin/sessions?q=nobody-like-this")
		if !strings.Contains(page, "No sessions match") {
			t.Error("no empty state")
		}
	})
}

// TestAdminSessions_CachedFigures_RefreshAtOnceAfterAnAdminAction: the
// stats and the unfiltered total are cached for a few seconds, but an
// admin's own change shows in the next poll.
func TestAdminSessions_CachedFigures_RefreshAtOnceAfterAnAdminAction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		var before, after struct {
			Active  int `json:"active"`
			Expired int `json:"expired"`
		}
		var list struct {
			Total int `json:"total"`
		}
		getJSON(t, f.ac, "/admin/sessions/stats", http.StatusOK, &before)
		getJSON(t, f.ac, "/admin/sessions", http.StatusOK, &list)
		if before.Active != 2 || before.Expired != 1 || list.Total != 3 {
			t.Fatalf("before: %+v total %d, want 2 active, 1 expired, 3 in all", before, list.Total)
		}
		resp := f.ac.api("DELETE", fmt.Sprintf("/admin/sessions/%d", f.userSession.ID), nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("delete: %d", resp.StatusCode)
		}
		getJSON(t, f.ac, "/admin/sessions/stats", http.StatusOK, &after)
		getJSON(t, f.ac, "/admin/sessions", http.StatusOK, &list)
		if after.Active != 1 || after.Expired != 1 || list.Total != 2 {
			t.Fatalf("after delete: %+v total %d, want 1 active, 1 expired, 2 in all", after, list.Total)
		}
	})
}
