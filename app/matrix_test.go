package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// routeCase is one registered route with its parameters filled in with
// rows that exist, so a request that got through would really change data.
type routeCase struct {
	method, path string
	form         url.Values
}

// csrfExempt are the state changes no browser makes: a provider's
// back-channel logout is proved by its signed logout token instead
// (TestBackchannelLogout_EndsMatchingSessions_RefusesBadTokens covers
// its refusals). A native client's sign-in takes only JSON, which no
// cross-site form can send, and sets no cookie
// (TestAPISessions_ThrottledLikeTheForm covers its refusals).
var csrfExempt = map[string]bool{
	"POST /login/provider/:name/backchannel-logout": true,
	"POST /api/sessions":                            true,
}

// mutatingRoutes lists every state-changing route the app registers, so a
// route added later is covered without touching this test.
func mutatingRoutes(a *testApp, victim *models.User, victimSession *models.Session) []routeCase {
	var out []routeCase
	seen := map[string]bool{}
	for _, r := range a.srv.Handler().GetRoutes(true) {
		if r.Method != http.MethodPost && r.Method != http.MethodDelete {
			continue
		}
		key := r.Method + " " + r.Path
		if seen[key] || strings.HasPrefix(r.Path, "/test/") || csrfExempt[key] {
			continue
		}
		seen[key] = true
		out = append(out, routeCase{method: r.Method, path: fillParams(r.Path, victim, victimSession), form: url.Values{
			"email": {victim.Email}, "password": {"password123"}, "name": {"Changed"}, "role": {"admin"},
			"action": {"cleanup"}, "userId": {fmt.Sprint(victim.ID)}, "id": {fmt.Sprint(victimSession.ID)},
			"current_password": {"password123"}, "new_password": {"another-password"}, "confirm": {"another-password"},
		}})
	}
	return out
}

func fillParams(path string, u *models.User, s *models.Session) string {
	if strings.Contains(path, "/users/") {
		return strings.ReplaceAll(path, ":id", fmt.Sprint(u.ID))
	}
	return strings.ReplaceAll(path, ":id", fmt.Sprint(s.ID))
}

// snapshot is what a refused request must leave untouched.
func snapshot(t *testing.T, db *models.DB) string {
	t.Helper()
	var parts []string
	for _, table := range []string{"users", "sessions", "cleanup_runs"} {
		parts = append(parts, fmt.Sprintf("%s=%d", table, countRows(t, db, table, "")))
	}
	var roles []string
	_ = db.NewSelect().Table("users").Column("role").Order("id").Scan(context.Background(), &roles)
	var hashes []string
	_ = db.NewSelect().Table("users").Column("password_hash").Order("id").Scan(context.Background(), &hashes)
	return strings.Join(parts, " ") + " roles=" + strings.Join(roles, ",") + fmt.Sprintf(" pw=%x", strings.Join(hashes, ","))
}

func TestCSRF_Matrix_EveryStateChangingRoute_RefusesBadTokensAndCrossSite_ChangesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admin := testdb.CreateUser(t, db, "matrix-admin@example.com", models.RoleAdmin)
		victimClient, victim := a.signIn("matrix-victim@example.com", models.RoleUser)
		vs, err := a.srv.Sessions().GetSession(context.Background(), victimClient.cookie())
		if err != nil {
			t.Fatal(err)
		}
		// An expired session keeps cleanup meaningful.
		expired, _ := models.NewToken()
		if _, err := a.srv.Sessions().CreateSession(context.Background(), expired, victim.ID, a.clock.Now().Add(-time.Hour), models.Client{}); err != nil {
			t.Fatal(err)
		}
		c := a.client()
		c.login(admin.Email, "password123")
		other := a.client()
		other.login(victim.Email, "password123")

		routes := mutatingRoutes(a, victim, vs)
		if len(routes) < 2 {
			t.Fatalf("only %d state-changing routes found", len(routes))
		}
		before := snapshot(t, db)
		for _, rc := range routes {
			for _, tc := range []struct {
				name   string
				token  string
				header http.Header
				query  bool
			}{
				{name: "missing"},
				{name: "empty", token: ""},
				{name: "another session's token", token: other.csrf},
				{name: "query string only", query: true},
				{name: "cross-site Origin", token: c.csrf, header: http.Header{"Origin": {"https://evil.example"}}},
				{name: "Sec-Fetch-Site cross-site", token: c.csrf, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}},
			} {
				form := url.Values{}
				for k, v := range rc.form {
					form[k] = v
				}
				path := rc.path
				if tc.query {
					path += "?_csrf=" + url.QueryEscape(c.csrf)
				} else if tc.name != "missing" {
					form.Set("_csrf", tc.token)
				}
				h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
				for k, v := range tc.header {
					h[k] = v
				}
				resp := c.request(rc.method, path, strings.NewReader(form.Encode()), h)
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s %s (%s): %d, want 403: %.200s", rc.method, rc.path, tc.name, resp.StatusCode, body)
				}
			}
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("refused requests changed data:\nbefore %s\nafter  %s", before, after)
		}
		if !victimClient.signedIn() || !c.signedIn() {
			t.Fatal("a refused request ended a session")
		}
	})
}

// adminRoutes lists every route under /admin with every method it has.
func adminRoutes(a *testApp, u *models.User, s *models.Session) []routeCase {
	var out []routeCase
	seen := map[string]bool{}
	for _, r := range a.srv.Handler().GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/admin") || r.Method == http.MethodHead {
			continue
		}
		key := r.Method + " " + r.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, routeCase{method: r.Method, path: fillParams(r.Path, u, s)})
	}
	return out
}

func TestAuthz_Matrix_EveryAdminRouteAndFragment_RefusesAllButAdmins(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admin := testdb.CreateUser(t, db, "authz-admin@example.com", models.RoleAdmin)
		demoted := testdb.CreateUser(t, db, "authz-demoted@example.com", models.RoleAdmin)
		user := testdb.CreateUser(t, db, "authz-user@example.com", models.RoleUser)
		expiredAdmin := testdb.CreateUser(t, db, "authz-expired@example.com", models.RoleAdmin)

		adminC := a.client()
		adminC.login(admin.Email, "password123")
		userC := a.client()
		userC.login(user.Email, "password123")
		demotedC := a.client()
		demotedC.login(demoted.Email, "password123")
		if _, err := models.SetUserRole(context.Background(), db, demoted.ID, models.RoleUser, models.Audit{}, a.clock.Now()); err != nil {
			t.Fatal(err)
		}
		expiredC := a.client()
		expiredC.login(expiredAdmin.Email, "password123")
		expSess, _ := a.srv.Sessions().GetSession(context.Background(), expiredC.cookie())
		_, _ = db.NewUpdate().Model((*models.Session)(nil)).Set("expires_at = ?", db.T(a.clock.Now().Add(-time.Minute))).
			Where("id = ?", expSess.ID).Exec(context.Background())
		a.srv.sessions.Cache().Flush() // a direct DB change is otherwise seen within SESSION_CACHE_TTL
		anon := a.client()
		anon.page("/login")

		us, _ := a.srv.Sessions().GetSession(context.Background(), userC.cookie())
		routes := adminRoutes(a, user, us)
		if len(routes) < 1 {
			t.Fatal("no admin routes registered")
		}
		for _, rc := range routes {
			for _, who := range []struct {
				name string
				c    *client
				want []int
			}{
				{"no session", anon, []int{401}},
				{"expired admin session", expiredC, []int{401}},
				{"demoted admin", demotedC, []int{401, 403}},
				{"normal user", userC, []int{403}},
			} {
				for _, kind := range []string{"json", "htmx", "page"} {
					h := http.Header{"X-Csrf-Token": {who.c.csrf}}
					switch kind {
					case "json":
						h.Set("Accept", "application/json")
					case "htmx":
						h.Set("Hx-Request", "true")
					}
					resp := who.c.request(rc.method, rc.path, nil, h)
					resp.Body.Close()
					got := resp.StatusCode
					if kind == "page" && rc.method == http.MethodGet && who.want[0] == 401 {
						if got != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
							t.Errorf("%s %s as %s (page): %d → %q, want a redirect to /login", rc.method, rc.path, who.name, got, resp.Header.Get("Location"))
						}
						continue
					}
					if kind == "htmx" && who.want[0] == 401 && resp.Header.Get("HX-Redirect") == "" {
						t.Errorf("%s %s as %s (htmx): no HX-Redirect", rc.method, rc.path, who.name)
					}
					if !containsInt(who.want, got) && !(kind == "page" && got == http.StatusSeeOther && who.want[0] == 401) {
						t.Errorf("%s %s as %s (%s): %d, want %v", rc.method, rc.path, who.name, kind, got, who.want)
					}
				}
			}
			// Claims in the request never count.
			for _, forged := range []http.Header{
				{"X-Role": {"admin"}, "X-User-Id": {fmt.Sprint(admin.ID)}, "Remote-Groups": {"admin"}},
			} {
				forged.Set("Accept", "application/json")
				forged.Set("X-Csrf-Token", userC.csrf)
				path := rc.path + "?role=admin&userId=" + fmt.Sprint(admin.ID) + "&isAdmin=true"
				resp := userC.request(rc.method, path, strings.NewReader("role=admin&user_id=1"), forged)
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s %s with forged role claims: %d, want 403", rc.method, rc.path, resp.StatusCode)
				}
			}
			if rc.method == http.MethodGet {
				resp := adminC.request(rc.method, rc.path, nil, http.Header{"Accept": {"application/json"}})
				resp.Body.Close()
				if resp.StatusCode == 401 || resp.StatusCode == 403 {
					t.Errorf("%s %s as admin: %d", rc.method, rc.path, resp.StatusCode)
				}
			}
		}
	})
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
