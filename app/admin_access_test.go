package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestAdminAccess_RulesAsLoaded_TestAURLExplainsRuleByRule(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, rulesEnv(t, matrixRules))
		admin := testdb.CreateUser(t, db, "access-admin@example.com", models.RoleAdmin)
		testdb.CreateUser(t, db, "dev@example.com", models.RoleUser)
		setGroups(t, db, "dev@example.com", "dev")
		c := a.client()
		c.login(admin.Email, "password123")

		resp, page := c.page("/admin/access")
		if resp.StatusCode != 200 || !strings.Contains(page, `id="rule-line-4"`) || !strings.Contains(page, "<code>^/api/v[0-9]&#43;/admin</code>") ||
			!strings.Contains(page, "<strong>deny</strong> (line 2)") || strings.Contains(page, `id="access-result"`) {
			t.Fatalf("rules page: %d\n%s", resp.StatusCode, page)
		}

		explain := func(q url.Values) string {
			t.Helper()
			resp, page := c.page("/admin/access?" + q.Encode())
			if resp.StatusCode != 200 {
				t.Fatalf("%v: %d\n%s", q, resp.StatusCode, page)
			}
			return page
		}
		for _, tc := range []struct {
			q    url.Values
			want []string
		}{
			{url.Values{"host": {"app.example.com"}, "path": {"/ops/deploy"}, "user": {"dev@example.com"}}, []string{
				`id="access-verdict">forbidden<`,
				"Line 4: skipped, host app.example.com fits none of status.example.com",
				"Line 6: skipped, path /ops/deploy fits none of /admin/*, ^/api/v[0-9]&#43;/admin",
				"Line 10: <strong>matches: host app.example.com fits app.example.com; path /ops/deploy fits /ops/*; any method</strong>",
				"it admits only members of ops, or mfa@example.com; dev@example.com is none of them",
				"dev@example.com (role user, groups dev), a session made without a second factor",
			}},
			{url.Values{"host": {"app.example.com"}, "path": {"/admin/users"}, "user": {"dev@example.com"}}, []string{
				"Line 6: skipped, method GET is not POST, DELETE", `id="access-verdict">allowed<`, "policy signed_in admits any session"}},
			{url.Values{"host": {"secure.example.com"}, "path": {"/"}, "user": {"dev@example.com"}}, []string{
				"second factor required", "mfa: true needs a session made with a second factor"}},
			{url.Values{"host": {"secure.example.com"}, "user": {"dev@example.com"}, "mfa": {"1"}}, []string{
				`id="access-verdict">allowed<`, "the session has the second factor mfa: true asks for"}},
			{url.Values{"host": {"wiki.example.com"}, "path": {"/api/v2/admin/x"}, "method": {"DELETE"}}, []string{
				"sign-in required", "Asked by nobody signed in", "302 to sign in for a browser"}},
			{url.Values{"host": {"other.test"}}, []string{"forbidden", "no rule matches: the default, deny (line 2)", "policy deny refuses everyone"}},
		} {
			page := explain(tc.q)
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("%v: the page lacks %q", tc.q, w)
				}
			}
		}

		var got struct {
			Loaded      bool       `json:"loaded"`
			Rules       []ruleView `json:"rules"`
			Explanation *struct {
				Verdict   string     `json:"verdict"`
				DecidedBy string     `json:"decidedBy"`
				Steps     []ruleStep `json:"steps"`
			} `json:"explanation"`
		}
		q := url.Values{"host": {"app.example.com"}, "path": {"/admin/x"}, "method": {"POST"}, "user": {admin.Email}}
		decodeJSON(t, c.request("GET", "/admin/access?"+q.Encode(), nil, http.Header{"Accept": {"application/json"}}), &got)
		if !got.Loaded || len(got.Rules) != 6 || got.Rules[1].Paths[1] != "^/api/v[0-9]+/admin" || got.Explanation == nil ||
			got.Explanation.Verdict != "allowed" || got.Explanation.DecidedBy != "rule at line 6" || len(got.Explanation.Steps) != 2 {
			t.Fatalf("JSON: %+v %+v", got, got.Explanation)
		}

		for _, tc := range []struct {
			q      string
			status int
			want   string
		}{
			{"host=app.example.com&method=FETCH", 400, "method: want an HTTP method"},
			{"path=/x", 400, "host: want the host"},
			{"host=app.example.com&path=admin", 400, "path: want a path starting with /"},
			{"host=app.example.com&path=/%zz", 400, "path: cannot be read"},
			{"host=app.example.com&mfa=yes", 400, "mfa: want 1"},
			{"host=app.example.com&user=nobody@example.com", 422, "user: no user has the email nobody@example.com"},
		} {
			resp, page := c.page("/admin/access?" + tc.q)
			if resp.StatusCode != tc.status || !strings.Contains(page, `id="access-error"`) || !strings.Contains(page, tc.want) {
				t.Errorf("%s: %d, want %d with %q", tc.q, resp.StatusCode, tc.status, tc.want)
			}
			resp = c.request("GET", "/admin/access?"+tc.q, nil, http.Header{"Accept": {"application/json"}})
			if body := readBody(t, resp); resp.StatusCode != tc.status || !strings.Contains(body, `{"error":"`+tc.want) {
				t.Errorf("%s JSON: %d %s", tc.q, resp.StatusCode, body)
			}
		}

		user := a.client()
		user.login("dev@example.com", "password123")
		if resp := user.request("GET", "/admin/access?host=x", nil, http.Header{"Accept": {"application/json"}}); resp.StatusCode != 403 {
			t.Fatalf("a user on the rules page: %d", resp.StatusCode)
		}
	})
}

func TestAdminAccess_NoRules_SaysVerifyAdmitsAnySession(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, nil)
	admin := testdb.CreateUser(t, db, "norules@example.com", models.RoleAdmin)
	c := a.client()
	c.login(admin.Email, "password123")
	resp, page := c.page("/admin/access?host=app.example.com")
	if resp.StatusCode != 200 || !strings.Contains(page, "No access rules are loaded") || strings.Contains(page, "Test a URL") {
		t.Fatalf("%d\n%s", resp.StatusCode, page)
	}
}
