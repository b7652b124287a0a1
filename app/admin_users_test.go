package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// usersAdmin is an app with one signed-in admin client.
func usersAdmin(t *testing.T, db *models.DB) (*testApp, *client, *models.User) {
	t.Helper()
	a := newTestApp(t, db, nil)
	c, admin := a.signIn("users-admin@example.com", models.RoleAdmin)
	return a, c, admin
}

// usersHTMX sends an htmx request (with the CSRF header) from the users page.
func (c *client) usersHTMX(method, path string, v url.Values) *http.Response {
	c.app.t.Helper()
	h := http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {c.csrf}, "Hx-Current-Url": {c.base + "/admin/users"}}
	var body *strings.Reader
	if v != nil {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		body = strings.NewReader(v.Encode())
	}
	if body == nil {
		return c.request(method, path, nil, h)
	}
	return c.request(method, path, body, h)
}

func keysOf(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func mustStatus(t *testing.T, resp *http.Response, want int) string {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d: %.400s", resp.StatusCode, want, body)
	}
	return body
}

func TestAdminUsers_ListJSON_ShapeFieldByField_CountsSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, admin := usersAdmin(t, db)
		_, u := a.signIn("counted@example.com", models.RoleUser)
		uc2 := a.client()
		uc2.login(u.Email, "password123")
		expired, _ := models.NewToken()
		if _, err := a.srv.Sessions().CreateSession(context.Background(), expired, u.ID, a.clock.Now().Add(-1), models.Client{}); err != nil {
			t.Fatal(err)
		}

		var got map[string]any
		decodeJSON(t, c.api("GET", "/admin/users?q=counted", nil), &got)
		if k := keysOf(got); k != "limit,page,total,totalPages,users" {
			t.Fatalf("list keys %q", k)
		}
		if got["total"] != 1.0 || got["page"] != 1.0 || got["limit"] != 20.0 || got["totalPages"] != 1.0 {
			t.Fatalf("list figures %v", got)
		}
		users := got["users"].([]any)
		row := users[0].(map[string]any)
		if k := keysOf(row); k != "activeSessions,createdAt,disabled,email,emailVerified,expiredSessions,groups,id,name,role,totalSessions" {
			t.Fatalf("user keys %q", k)
		}
		want := map[string]any{"id": float64(u.ID), "name": u.Name, "email": u.Email, "role": "user",
			"activeSessions": 2.0, "expiredSessions": 1.0, "totalSessions": 3.0}
		for k, v := range want {
			if row[k] != v {
				t.Errorf("%s = %v (%T), want %v", k, row[k], row[k], v)
			}
		}
		if s, _ := row["createdAt"].(string); !strings.HasSuffix(s, "Z") {
			t.Errorf("createdAt %q is not a UTC timestamp", row["createdAt"])
		}
		if _, ok := row["passwordHash"]; ok {
			t.Fatal("password hash in JSON")
		}

		// Newest first, paged.
		decodeJSON(t, c.api("GET", "/admin/users?limit=1&page=2", nil), &got)
		if got["total"] != 2.0 || got["totalPages"] != 2.0 || len(got["users"].([]any)) != 1 ||
			got["users"].([]any)[0].(map[string]any)["id"] != float64(admin.ID) {
			t.Fatalf("page 2 of 1: %v", got)
		}
	})
}

func TestAdminUsers_Search_MatchesPercentUnderscoreAndQuotesLiterally(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, _ := usersAdmin(t, db)
		for _, n := range []models.NewUser{
			{Email: "ada@example.com", Name: "Ada 100% Lovelace"},
			{Email: "bob@example.com", Name: "Bob_Builder"},
			{Email: "carol@example.com", Name: `Carol "O'Neil"`},
			{Email: "dave@example.com", Name: "Dave Bob Builder"},
		} {
			n.Role, n.Password = models.RoleUser, "password123"
			if _, err := models.CreateUser(context.Background(), db, n, a.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		for q, want := range map[string]string{
			"%": "ada@example.com", "100%": "ada@example.com", "_": "bob@example.com", "e_b": "", "e b": "dave@example.com",
			"bob_": "bob@example.com", `"o'n`: "carol@example.com", `\`: "", "CAROL": "carol@example.com",
			"builder": "bob@example.com,dave@example.com",
		} {
			var got struct {
				Users []adminUser `json:"users"`
				Total int         `json:"total"`
			}
			decodeJSON(t, c.api("GET", "/admin/users?q="+url.QueryEscape(q), nil), &got)
			var emails []string
			for _, u := range got.Users {
				emails = append(emails, u.Email)
			}
			sort.Strings(emails)
			if strings.Join(emails, ",") != want || got.Total != len(emails) {
				t.Errorf("q=%q: %v (total %d), want %q", q, emails, got.Total, want)
			}
		}
		// The HTML fragment shows the search, escaped, and an empty state.
		resp := c.request("GET", "/admin/users?q="+url.QueryEscape(`<b>x</b>`), nil, http.Header{"Hx-Request": {"true"}})
		body := mustStatus(t, resp, 200)
		if !strings.Contains(body, "No users match") || strings.Contains(body, "<b>x</b>") {
			t.Fatalf("empty search state wrong or unescaped: %s", body)
		}
	})
}

func TestAdminUsers_BadQuery_400NamesTheParameter(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		_, c, _ := usersAdmin(t, db)
		for _, tc := range []struct{ query, param string }{
			{"page=-1", "page"}, {"page=abc", "page"}, {"page=0", "page"}, {"page=1.5", "page"},
			{"limit=0", "limit"}, {"limit=101", "limit"}, {"limit=1e3", "limit"},
			{"q=" + strings.Repeat("x", 201), "q"}, {"q=%00", "q"}, {"q=%ff%fe", "q"},
		} {
			var e struct{ Error string }
			resp := c.api("GET", "/admin/users?"+tc.query, nil)
			if resp.StatusCode != 400 {
				t.Errorf("%s: status %d", tc.query, resp.StatusCode)
			}
			decodeJSON(t, resp, &e)
			if !strings.HasPrefix(e.Error, tc.param+":") {
				t.Errorf("%s: %q does not name %s", tc.query, e.Error, tc.param)
			}
		}
		for _, id := range []string{"abc", "-1", "0", "1.5", "99999999999999999999"} {
			for _, r := range []struct{ method, path string }{
				{"POST", "/admin/users/" + id + "/role"}, {"POST", "/admin/users/" + id + "/logout"}, {"DELETE", "/admin/users/" + id},
			} {
				var e struct{ Error string }
				resp := c.api(r.method, r.path, url.Values{"role": {"admin"}})
				if resp.StatusCode != 400 {
					t.Errorf("%s %s: %d, want 400", r.method, r.path, resp.StatusCode)
				}
				decodeJSON(t, resp, &e)
				if !strings.HasPrefix(e.Error, "id:") {
					t.Errorf("%s %s: %q does not name id", r.method, r.path, e.Error)
				}
			}
		}
	})
}

func TestAdminUsers_Create_OK_422BadInput_409Duplicate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, admin := usersAdmin(t, db)
		form := url.Values{"email": {"New.Person@Example.com"}, "name": {"New Person"}, "role": {"admin"}, "password": {"long-enough-pw"}}
		var got map[string]map[string]any
		resp := c.api("POST", "/admin/users", form)
		if resp.StatusCode != 201 {
			t.Fatalf("create: %d %s", resp.StatusCode, readBody(t, resp))
		}
		decodeJSON(t, resp, &got)
		if k := keysOf(got["user"]); k != "activeSessions,createdAt,disabled,email,emailVerified,expiredSessions,groups,id,name,role,totalSessions" {
			t.Fatalf("created user keys %q", k)
		}
		if got["user"]["email"] != "new.person@example.com" || got["user"]["role"] != "admin" || got["user"]["name"] != "New Person" {
			t.Fatalf("created %v", got["user"])
		}
		nc := a.client()
		nc.login("new.person@example.com", "long-enough-pw")
		if n := countRows(t, db, "session_events", "kind = ? AND actor_id = ?", models.EventUserCreated, admin.ID); n != 1 {
			t.Fatalf("%d user.created events by the admin", n)
		}
		if !strings.Contains(a.logs.String(), "actor_id="+fmt.Sprint(admin.ID)) {
			t.Fatal("admin action not logged with actor_id")
		}
		if strings.Contains(a.logs.String(), "long-enough-pw") {
			t.Fatal("password in the log")
		}

		users := countRows(t, db, "users", "")
		for _, tc := range []struct {
			name   string
			change url.Values
			status int
			field  string
		}{
			{"bad email", url.Values{"email": {"not-an-email"}}, 422, "email"},
			{"short password", url.Values{"password": {"short"}}, 422, "password"},
			{"no name", url.Values{"name": {"  "}}, 422, "name"},
			{"bad role", url.Values{"role": {"root"}}, 422, "role"},
			{"duplicate email", url.Values{"email": {"NEW.person@example.com"}}, 409, "email"},
		} {
			f := url.Values{"email": {"other@example.com"}, "name": {"Other"}, "role": {"user"}, "password": {"long-enough-pw"}}
			for k, v := range tc.change {
				f[k] = v
			}
			var e struct{ Error string }
			resp := c.api("POST", "/admin/users", f)
			if resp.StatusCode != tc.status {
				t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
			}
			decodeJSON(t, resp, &e)
			if !strings.HasPrefix(e.Error, tc.field+":") {
				t.Errorf("%s: message %q does not name %s", tc.name, e.Error, tc.field)
			}
			// htmx: the form comes back in place with the message and what was typed.
			f.Set("name", "<i>typed</i>")
			if tc.field == "name" {
				f.Set("name", " ")
			}
			resp = c.usersHTMX("POST", "/admin/users", f)
			body := readBody(t, resp)
			if resp.StatusCode != tc.status || resp.Header.Get("HX-Retarget") != "#user-form" {
				t.Errorf("%s (htmx): %d retarget %q", tc.name, resp.StatusCode, resp.Header.Get("HX-Retarget"))
			}
			// The password typed stays (nobody should type it twice) and the
			// field at fault is marked.
			if !strings.Contains(body, `id="user-form"`) || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `value="`+f.Get("password")+`"`) ||
				strings.Contains(body, "<i>typed</i>") || (tc.field != "password" && !strings.Contains(body, `name="`+tc.field+`"`)) || !strings.Contains(body, `aria-invalid="true"`) {
				t.Errorf("%s (htmx): form wrong (error shown, password kept, field marked, input escaped): %s", tc.name, body)
			}
		}
		if n := countRows(t, db, "users", ""); n != users {
			t.Fatalf("refused creates changed users: %d → %d", users, n)
		}

		// API clients may send JSON.
		h := http.Header{"Accept": {"application/json"}, "X-Csrf-Token": {c.csrf}, "Content-Type": {"application/json"}}
		resp = c.request("POST", "/admin/users", strings.NewReader(`{"email":"json@example.com","name":"Jay","role":"user","password":"long-enough-pw"}`), h)
		decodeJSON(t, resp, &got)
		if resp.StatusCode != 201 || got["user"]["email"] != "json@example.com" {
			t.Fatalf("JSON create: %d %v", resp.StatusCode, got)
		}
		if resp := c.request("POST", "/admin/users", strings.NewReader(`{"email":`), h); resp.StatusCode != 400 {
			t.Fatalf("broken JSON: %d", resp.StatusCode)
		}

		// htmx success: the table, a toast, a fresh form, and the event for the sessions page.
		resp = c.usersHTMX("POST", "/admin/users", url.Values{"email": {"third@example.com"}, "name": {"Third"}, "password": {"long-enough-pw"}})
		body := mustStatus(t, resp, 201)
		if resp.Header.Get("HX-Trigger") != "sessions-changed" {
			t.Fatal("no HX-Trigger: sessions-changed")
		}
		for _, want := range []string{`id="users-table"`, "third@example.com", `id="toast"`, "Created third@example.com", `id="user-form"`, `hx-swap-oob="true"`} {
			if !strings.Contains(body, want) {
				t.Fatalf("htmx create answer lacks %q: %s", want, body)
			}
		}
	})
}

func TestAdminUsers_RoleChange_EndsThatUsersSessions_TheirCookieIsRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, admin := usersAdmin(t, db)
		u := testdb.CreateUser(t, db, "promote@example.com", models.RoleUser)
		bystander := testdb.CreateUser(t, db, "bystander@example.com", models.RoleUser)
		uc, bc := a.client(), a.client()
		uc.login(u.Email, "password123")
		bc.login(bystander.Email, "password123")

		var got struct {
			User    adminUser `json:"user"`
			Deleted int       `json:"deleted"`
		}
		resp := c.api("POST", fmt.Sprintf("/admin/users/%d/role", u.ID), url.Values{"role": {"admin"}})
		if resp.StatusCode != 200 {
			t.Fatalf("role: %d %s", resp.StatusCode, readBody(t, resp))
		}
		decodeJSON(t, resp, &got)
		if got.User.Role != "admin" || got.Deleted != 1 {
			t.Fatalf("role answer %+v", got)
		}
		if uc.signedIn() {
			t.Fatal("the promoted user's old cookie still works")
		}
		if !bc.signedIn() || !c.signedIn() {
			t.Fatal("a role change ended someone else's session")
		}
		uc.login(u.Email, "password123")
		if resp := uc.request("GET", "/admin/users", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("new admin: %d", resp.StatusCode)
		}

		// Demote back through htmx: table, toast, event.
		resp = c.usersHTMX("POST", fmt.Sprintf("/admin/users/%d/role", u.ID), url.Values{"role": {"user"}})
		body := mustStatus(t, resp, 200)
		if resp.Header.Get("HX-Trigger") != "sessions-changed" || !strings.Contains(body, "promote@example.com is now user; 1 session ended.") ||
			!strings.Contains(body, `id="users-table"`) {
			t.Fatalf("htmx demote answer: %v %s", resp.Header, body)
		}
		if resp := uc.request("GET", "/admin/users", nil, http.Header{"Accept": {"application/json"}}); resp.StatusCode != 401 {
			t.Fatalf("demoted admin's old cookie: %d, want 401", resp.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND actor_id = ?", models.EventUserRoleChanged, admin.ID); n != 2 {
			t.Fatalf("%d role events", n)
		}
		if resp := c.api("POST", fmt.Sprintf("/admin/users/%d/role", u.ID), url.Values{"role": {"root"}}); resp.StatusCode != 422 {
			t.Fatalf("bad role: %d", resp.StatusCode)
		}
		if resp := c.api("POST", "/admin/users/999999/role", url.Values{"role": {"user"}}); resp.StatusCode != 404 {
			t.Fatalf("unknown id: %d", resp.StatusCode)
		}
	})
}

func TestAdminUsers_SelfDemoteAndSelfDelete_Refused409_NothingChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, admin := usersAdmin(t, db)
		before := snapshot(t, db)
		for _, r := range []struct{ method, path string }{
			{"POST", fmt.Sprintf("/admin/users/%d/role", admin.ID)},
			{"DELETE", fmt.Sprintf("/admin/users/%d", admin.ID)},
		} {
			var e struct{ Error string }
			resp := c.api(r.method, r.path, url.Values{"role": {"user"}})
			if resp.StatusCode != 409 {
				t.Fatalf("%s %s: %d, want 409", r.method, r.path, resp.StatusCode)
			}
			decodeJSON(t, resp, &e)
			if !strings.Contains(e.Error, "your own") {
				t.Fatalf("message %q", e.Error)
			}
			resp = c.usersHTMX(r.method, r.path, url.Values{"role": {"user"}})
			body := readBody(t, resp)
			if resp.StatusCode != 409 || resp.Header.Get("HX-Retarget") != "#toast" || !strings.Contains(body, "your own") {
				t.Fatalf("%s %s (htmx): %d %q %s", r.method, r.path, resp.StatusCode, resp.Header.Get("HX-Retarget"), body)
			}
		}
		if after := snapshot(t, db); after != before || !c.signedIn() {
			t.Fatalf("a refused self-change changed data: %s → %s", before, after)
		}
		// The page offers neither action on the admin's own row.
		_, body := c.page("/admin/users")
		if strings.Contains(body, fmt.Sprintf(`hx-delete="/admin/users/%d"`, admin.ID)) || strings.Contains(body, fmt.Sprintf(`/admin/users/%d/role`, admin.ID)) {
			t.Fatal("own row offers delete or role change")
		}
		_ = a
	})
}

func TestAdminUsers_DemoteAnotherAdmin_Works_TheirNextAdminRequestIs401(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, _ := usersAdmin(t, db)
		oc, other := a.signIn("other-admin@example.com", models.RoleAdmin)
		if resp := c.api("POST", fmt.Sprintf("/admin/users/%d/role", other.ID), url.Values{"role": {"user"}}); resp.StatusCode != 200 {
			t.Fatalf("demote other admin: %d", resp.StatusCode)
		}
		if resp := oc.request("GET", "/admin/users", nil, http.Header{"Accept": {"application/json"}}); resp.StatusCode != 401 {
			t.Fatalf("demoted admin's old session: %d, want 401", resp.StatusCode)
		}
		oc.login(other.Email, "password123")
		if resp := oc.request("GET", "/admin/users", nil, http.Header{"Accept": {"application/json"}}); resp.StatusCode != 403 {
			t.Fatalf("demoted admin signed in again: %d, want 403", resp.StatusCode)
		}
		if n, _ := models.CountAdmins(context.Background(), db); n != 1 {
			t.Fatalf("%d admins", n)
		}
	})
}

func TestAdminUsers_ForceLogout_SaysHowMany_EndsOnlyThatUser(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, admin := usersAdmin(t, db)
		u := testdb.CreateUser(t, db, "kicked@example.com", models.RoleUser)
		var clients []*client
		for i := 0; i < 3; i++ {
			uc := a.client()
			uc.login(u.Email, "password123")
			clients = append(clients, uc)
		}
		var got map[string]any
		resp := c.api("POST", fmt.Sprintf("/admin/users/%d/logout", u.ID), url.Values{})
		decodeJSON(t, resp, &got)
		if resp.StatusCode != 200 || keysOf(got) != "deleted,userId" || got["deleted"] != 3.0 || got["userId"] != float64(u.ID) {
			t.Fatalf("force logout: %d %v", resp.StatusCode, got)
		}
		for _, uc := range clients {
			if uc.signedIn() {
				t.Fatal("a session survived force logout")
			}
		}
		if !c.signedIn() {
			t.Fatal("the admin was signed out")
		}
		if n := countRows(t, db, "session_events", "kind = ? AND actor_id = ? AND user_id = ?", models.EventUserForceLogout, admin.ID, u.ID); n != 1 {
			t.Fatalf("%d force-logout events", n)
		}
		clients[0].login(u.Email, "password123")
		resp = c.usersHTMX("POST", fmt.Sprintf("/admin/users/%d/logout", u.ID), url.Values{})
		body := mustStatus(t, resp, 200)
		if !strings.Contains(body, "Ended every session of kicked@example.com: 1 session.") || resp.Header.Get("HX-Trigger") != "sessions-changed" {
			t.Fatalf("htmx force logout: %s", body)
		}
		if resp := c.api("POST", "/admin/users/999999/logout", url.Values{}); resp.StatusCode != 404 {
			t.Fatalf("unknown id: %d", resp.StatusCode)
		}
	})
}

func TestAdminUsers_ForceLogoutOfSelf_SignsTheAdminOutCleanly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, admin := usersAdmin(t, db)
		other := a.client()
		other.login(admin.Email, "password123")
		resp := c.usersHTMX("POST", fmt.Sprintf("/admin/users/%d/logout", admin.ID), url.Values{})
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("HX-Redirect") != "/login" {
			t.Fatalf("self force logout: %d, HX-Redirect %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
		}
		if c.cookie() != "" || c.signedIn() || other.signedIn() {
			t.Fatal("the admin's sessions or cookie survived")
		}
	})
}

func TestAdminUsers_Delete_RemovesUserAndSessions_SecondIs404(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, admin := usersAdmin(t, db)
		uc, u := a.signIn("gone@example.com", models.RoleAdmin)
		uc2 := a.client()
		uc2.login(u.Email, "password123")

		var got map[string]any
		resp := c.api("DELETE", fmt.Sprintf("/admin/users/%d", u.ID), nil)
		decodeJSON(t, resp, &got)
		if resp.StatusCode != 200 || got["deleted"] != 2.0 || got["userId"] != float64(u.ID) {
			t.Fatalf("delete: %d %v", resp.StatusCode, got)
		}
		if n := countRows(t, db, "sessions", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
		if uc.signedIn() || uc2.signedIn() {
			t.Fatal("deleted user still signed in")
		}
		if resp := c.api("DELETE", fmt.Sprintf("/admin/users/%d", u.ID), nil); resp.StatusCode != 404 {
			t.Fatalf("second delete: %d, want 404", resp.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND actor_id = ?", models.EventUserDeleted, admin.ID); n != 1 {
			t.Fatalf("%d delete events", n)
		}

		// htmx: the row leaves the returned table.
		v := testdb.CreateUser(t, db, "gone2@example.com", models.RoleUser)
		resp = c.usersHTMX("DELETE", fmt.Sprintf("/admin/users/%d", v.ID), nil)
		body := mustStatus(t, resp, 200)
		if strings.Contains(body, fmt.Sprintf(`id="user-%d"`, v.ID)) || !strings.Contains(body, "Deleted gone2@example.com and 0 sessions.") {
			t.Fatalf("htmx delete answer: %s", body)
		}
	})
}

// usersRoutes are every users route and fragment, as an admin would send them.
func usersRoutes(target int64) []struct{ method, path string } {
	return []struct{ method, path string }{
		{"GET", "/admin/users"}, {"GET", "/admin/users?q=x&page=1"},
		{"POST", "/admin/users"},
		{"POST", fmt.Sprintf("/admin/users/%d/role", target)},
		{"POST", fmt.Sprintf("/admin/users/%d/logout", target)},
		{"DELETE", fmt.Sprintf("/admin/users/%d", target)},
	}
}

func TestAdminUsers_Access_NormalUser403_NoSession401OrLogin_EveryRouteAndFragment(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, _, _ := usersAdmin(t, db)
		uc, u := a.signIn("plain@example.com", models.RoleUser)
		anon := a.client()
		anon.page("/login")
		before := snapshot(t, db)
		form := url.Values{"email": {"x@example.com"}, "name": {"X"}, "password": {"password123"}, "role": {"admin"}}
		for _, r := range usersRoutes(u.ID) {
			for _, kind := range []string{"json", "htmx", "page"} {
				for _, who := range []*client{uc, anon} {
					h := http.Header{"X-Csrf-Token": {who.csrf}, "Content-Type": {"application/x-www-form-urlencoded"}}
					switch kind {
					case "json":
						h.Set("Accept", "application/json")
					case "htmx":
						h.Set("Hx-Request", "true")
					}
					f := url.Values{"_csrf": {who.csrf}}
					for k, v := range form {
						f[k] = v
					}
					resp := who.request(r.method, r.path, strings.NewReader(f.Encode()), h)
					resp.Body.Close()
					switch {
					case who == uc && resp.StatusCode != 403:
						t.Errorf("%s %s as user (%s): %d, want 403", r.method, r.path, kind, resp.StatusCode)
					case who == anon && kind == "json" && resp.StatusCode != 401:
						t.Errorf("%s %s anonymous (json): %d, want 401", r.method, r.path, resp.StatusCode)
					case who == anon && kind == "htmx" && (resp.StatusCode != 401 || resp.Header.Get("HX-Redirect") != "/login"):
						t.Errorf("%s %s anonymous (htmx): %d HX-Redirect %q", r.method, r.path, resp.StatusCode, resp.Header.Get("HX-Redirect"))
					case who == anon && kind == "page" && (resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login")):
						t.Errorf("%s %s anonymous (page): %d → %q", r.method, r.path, resp.StatusCode, resp.Header.Get("Location"))
					}
				}
			}
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("refused requests changed data: %s → %s", before, after)
		}
	})
}

func TestAdminUsers_CSRFMissingOrWrong_403_NothingChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, _ := usersAdmin(t, db)
		uc, u := a.signIn("csrf-target@example.com", models.RoleUser)
		before := snapshot(t, db)
		form := url.Values{"email": {"x@example.com"}, "name": {"X"}, "password": {"password123"}, "role": {"admin"}}
		for _, r := range usersRoutes(u.ID)[2:] {
			for _, token := range []string{"", uc.csrf, "forged"} {
				h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
				if token != "" {
					h.Set("X-Csrf-Token", token)
				}
				resp := c.request(r.method, r.path, strings.NewReader(form.Encode()), h)
				resp.Body.Close()
				if resp.StatusCode != 403 {
					t.Errorf("%s %s with CSRF %q: %d, want 403", r.method, r.path, token, resp.StatusCode)
				}
			}
		}
		if after := snapshot(t, db); after != before || !uc.signedIn() {
			t.Fatalf("refused requests changed data: %s → %s", before, after)
		}
	})
}

func TestAdminUsers_FragmentRules_HXRequestFragment_BoostedAndRestoreFullPage_Vary(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		_, c, _ := usersAdmin(t, db)
		for _, tc := range []struct {
			name     string
			header   http.Header
			fragment bool
		}{
			{"browser", nil, false},
			{"htmx", http.Header{"Hx-Request": {"true"}}, true},
			{"boosted", http.Header{"Hx-Request": {"true"}, "Hx-Boosted": {"true"}}, false},
			{"history restore", http.Header{"Hx-Request": {"true"}, "Hx-History-Restore-Request": {"true"}}, false},
		} {
			resp := c.request("GET", "/admin/users?q=users-admin", nil, tc.header)
			body := mustStatus(t, resp, 200)
			if !strings.Contains(resp.Header.Get("Vary"), "HX-Request") {
				t.Errorf("%s: Vary %q", tc.name, resp.Header.Get("Vary"))
			}
			full := strings.Contains(body, "<html") && strings.Contains(body, `id="user-form"`)
			if tc.fragment {
				if full || !strings.HasPrefix(strings.TrimSpace(body), `<div id="users-table"`) {
					t.Errorf("%s: want only the #users-table fragment: %.200s", tc.name, body)
				}
			} else if !full || !strings.Contains(body, `id="users-table"`) {
				t.Errorf("%s: want the full page: %.200s", tc.name, body)
			}
			if !strings.Contains(body, "users-admin@example.com") {
				t.Errorf("%s: the admin is not listed", tc.name)
			}
		}
		// The search form follows the URL and keeps the query.
		_, body := c.page("/admin/users?q=" + url.QueryEscape(`"><script>`))
		if strings.Contains(body, `"><script>`) || !strings.Contains(body, `hx-push-url="true"`) {
			t.Fatal("search value not escaped or URL not pushed")
		}
	})
}

func TestAdminUsers_BrowserForm_NoJS_CreatesAndShowsErrorsInThePage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		_, c, _ := usersAdmin(t, db)
		c.page("/admin/users")
		resp := c.form("/admin/users", url.Values{"email": {"bad"}, "name": {"N"}, "password": {"password123"}})
		body := mustStatus(t, resp, 422)
		if !strings.Contains(body, "<html") || !strings.Contains(body, "Email is not a valid email address.") || !strings.Contains(body, `value="bad"`) {
			t.Fatalf("no-JS error page: %.500s", body)
		}
		resp = c.form("/admin/users", url.Values{"email": {"nojs@example.com"}, "name": {"N"}, "password": {"password123"}})
		body = mustStatus(t, resp, 201)
		if !strings.Contains(body, "Created nojs@example.com (user).") || !strings.Contains(body, "nojs@example.com") {
			t.Fatalf("no-JS create page: %.500s", body)
		}
	})
}
