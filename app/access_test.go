package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// scenario is one request and what must come back, as pocketbase's
// ApiScenario: who asks, how (a page, htmx or a script), and the status
// and headers the answer must have.
type scenario struct {
	method, path string
	as           string // anonymous, user or admin
	kind         string // page, htmx or json
	body         url.Values
	status       int
	headers      map[string]string // name → prefix of its value
}

func (sc scenario) String() string {
	return fmt.Sprintf("%s %s as %s (%s)", sc.method, sc.path, sc.as, sc.kind)
}

// run sends the scenario's request from f's client for sc.as and checks
// the answer.
func (sc scenario) run(t *testing.T, f *fixture) {
	t.Helper()
	c := f.clients[sc.as]
	h := http.Header{"X-Csrf-Token": {c.csrf}, "Content-Type": {"application/x-www-form-urlencoded"}}
	switch sc.kind {
	case "json":
		h.Set("Accept", "application/json")
	case "htmx":
		h.Set("Hx-Request", "true")
	}
	resp := c.request(sc.method, sc.path, strings.NewReader(sc.body.Encode()), h)
	body := readBody(t, resp)
	if resp.StatusCode != sc.status {
		t.Errorf("%s: %d, want %d: %.200s", sc, resp.StatusCode, sc.status, body)
	}
	for name, prefix := range sc.headers {
		if got := resp.Header.Get(name); !strings.HasPrefix(got, prefix) || got == "" && prefix == "" {
			t.Errorf("%s: %s %q, want it to start with %q", sc, name, got, prefix)
		}
	}
}

// fixture is an app with a signed-in admin, a signed-in user and an
// anonymous visitor that has loaded the sign-in page (so it has a CSRF
// token): what most HTTP tests start from.
type fixture struct {
	a           *testApp
	admin, user *models.User
	clients     map[string]*client // by role: anonymous, user, admin
}

func newFixture(t *testing.T, db *models.DB, env map[string]string) *fixture {
	t.Helper()
	f := &fixture{a: newTestApp(t, db, env)}
	ac, admin := f.a.signIn("fixture-admin@example.com", models.RoleAdmin)
	uc, user := f.a.signIn("fixture-user@example.com", models.RoleUser)
	anon := f.a.client()
	anon.page("/login")
	f.admin, f.user = admin, user
	f.clients = map[string]*client{"anonymous": anon, "user": uc, "admin": ac}
	return f
}

// accessRoutes says who may use each route: everyone, signed-in users
// (admins too) or admins. A route that changes data is asked only by
// those it refuses.
var accessRoutes = []struct {
	method, path, who string
}{
	{"GET", "/healthz", "everyone"}, {"GET", "/readyz", "everyone"}, {"GET", "/login", "anonymous"},
	{"GET", "/", "users"}, {"GET", "/api/me", "users"}, {"GET", "/account/sessions", "users"},
	{"GET", "/account/password", "users"}, {"GET", "/account/security", "users"},
	{"GET", "/account/tokens", "users"}, {"GET", "/account/alerts", "users"},
	{"GET", "/admin/sessions", "admins"}, {"GET", "/admin/sessions?status=active", "admins"},
	{"GET", "/admin/sessions/stats", "admins"}, {"GET", "/admin/users", "admins"},
	{"GET", "/admin/tokens", "admins"}, {"GET", "/admin/mail", "admins"}, {"GET", "/admin/cleanup", "admins"},
	{"GET", "/admin/audit", "admins"}, {"GET", "/admin/audit.csv", "admins"}, {"GET", "/admin/insights", "admins"},
	{"POST", "/admin/sessions", "admins"}, {"DELETE", "/admin/sessions", "admins"},
	{"DELETE", "/admin/sessions/1", "admins"}, {"POST", "/admin/cleanup/run", "admins"},
	{"GET", "/no-such-page", "nobody"},
}

// accessScenarios expands accessRoutes over every role and kind of
// request: who may use a route gets 200; a visitor without a session is
// sent to sign in (a page by a redirect, htmx by HX-Redirect, a script by
// 401; an /api route always answers a 401); a user on an admin route gets
// 403; a signed-in visitor on the sign-in page is sent home.
func accessScenarios() []scenario {
	var out []scenario
	for _, r := range accessRoutes {
		for _, as := range []string{"anonymous", "user", "admin"} {
			for _, kind := range []string{"page", "htmx", "json"} {
				sc := scenario{method: r.method, path: r.path, as: as, kind: kind, status: http.StatusOK,
					body: url.Values{"action": {"cleanup"}, "userId": {"1"}}}
				allowed := r.who == "everyone" || r.who == as || r.who == "users" && as != "anonymous" || r.who == "admins" && as == "admin"
				switch {
				case r.who == "nobody":
					sc.status = http.StatusNotFound
				case allowed && r.method != http.MethodGet:
					continue // it would change data
				case allowed:
				case r.who == "anonymous" && kind == "htmx":
					sc.status, sc.headers = http.StatusNoContent, map[string]string{"HX-Redirect": "/"}
				case r.who == "anonymous":
					sc.status, sc.headers = http.StatusSeeOther, map[string]string{"Location": "/"}
				case as == "user":
					sc.status = http.StatusForbidden
				case kind == "json" || strings.HasPrefix(r.path, "/api/"):
					sc.status = http.StatusUnauthorized
				case kind == "htmx":
					sc.status, sc.headers = http.StatusUnauthorized, map[string]string{"HX-Redirect": "/login"}
				case r.method == http.MethodGet && r.path != "/":
					sc.status, sc.headers = http.StatusSeeOther, map[string]string{"Location": "/login?next="}
				default:
					sc.status, sc.headers = http.StatusSeeOther, map[string]string{"Location": "/login"}
				}
				out = append(out, sc)
			}
		}
	}
	return out
}

func TestAccess_EveryRoleAndKindOfRequest_GetsItsStatus_RefusalsChangeNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newFixture(t, db, nil)
		before := snapshot(t, db)
		scenarios := accessScenarios()
		for _, sc := range scenarios {
			sc.run(t, f)
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("refused requests changed data: %s → %s", before, after)
		}
		if len(scenarios) < 200 {
			t.Fatalf("only %d scenarios", len(scenarios))
		}
	})
}
