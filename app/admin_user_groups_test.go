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

func TestAdminUsers_Groups_FormHTMXAndJSON_SessionsStay_BadNames422(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, c, admin := usersAdmin(t, db)
		uc, u := a.signIn("member@example.com", models.RoleUser)
		c.page("/admin/users")
		path := fmt.Sprintf("/admin/users/%d/groups", u.ID)

		resp := c.usersHTMX("POST", path, url.Values{"groups": {"Ops, dev,ops"}})
		body := mustStatus(t, resp, 200)
		if !strings.Contains(body, "Groups of member@example.com: dev, ops.") || !strings.Contains(body, `value="dev, ops"`) {
			t.Fatalf("htmx answer: %.600s", body)
		}
		var got struct {
			User adminUser `json:"user"`
		}
		resp = c.request("POST", path, strings.NewReader(`{"groups": ["qa"]}`), http.Header{
			"Content-Type": {"application/json"}, "Accept": {"application/json"}, "X-Csrf-Token": {c.csrf}})
		if resp.StatusCode != 200 {
			t.Fatalf("JSON: %d %s", resp.StatusCode, readBody(t, resp))
		}
		decodeJSON(t, resp, &got)
		if strings.Join(got.User.Groups, ",") != "qa" || got.User.Email != u.Email {
			t.Fatalf("JSON answer %+v", got.User)
		}
		if !uc.signedIn() {
			t.Fatal("changing groups ended the member's session")
		}
		var list struct {
			Users []adminUser `json:"users"`
		}
		decodeJSON(t, c.request("GET", "/admin/users?q=member", nil, http.Header{"Accept": {"application/json"}}), &list)
		if len(list.Users) != 1 || strings.Join(list.Users[0].Groups, ",") != "qa" {
			t.Fatalf("users JSON: %+v", list.Users)
		}
		decodeJSON(t, c.request("GET", "/admin/users?q=users-admin", nil, http.Header{"Accept": {"application/json"}}), &list)
		if len(list.Users) != 1 || list.Users[0].Groups == nil || len(list.Users[0].Groups) != 0 {
			t.Fatalf("no groups must be [], got %+v", list.Users)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND actor_id = ?", models.EventUserGroupsChanged, admin.ID); n != 2 {
			t.Fatalf("%d group events", n)
		}
		for _, tc := range []struct {
			body string
			want int
		}{{`{"groups": ["ops team"]}`, 422}, {`{"groups": "ops"}`, 400}, {`{}`, 400}, {`[`, 400}} {
			resp := c.request("POST", path, strings.NewReader(tc.body), http.Header{
				"Content-Type": {"application/json"}, "Accept": {"application/json"}, "X-Csrf-Token": {c.csrf}})
			if body := readBody(t, resp); resp.StatusCode != tc.want || !strings.Contains(body, `"error"`) {
				t.Errorf("%s: %d %s, want %d", tc.body, resp.StatusCode, body, tc.want)
			}
		}
		if stored := mustUser(t, db, u.Email).GroupNames; stored != "qa" {
			t.Fatalf("a refused change changed the groups to %q", stored)
		}
		if resp := uc.api("POST", path, url.Values{"groups": {"admin"}}); resp.StatusCode != 403 {
			t.Fatalf("a user setting groups: %d", resp.StatusCode)
		}
		if resp := c.api("POST", "/admin/users/999999/groups", url.Values{"groups": {"x"}}); resp.StatusCode != 404 {
			t.Fatalf("unknown user: %d", resp.StatusCode)
		}
	})
}

func TestCLI_Users_SetGroups_ListShowsThem(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testdb.SQLiteURL(t)}
	if _, err := runCLI(t, env, "", "users", "create", "--email", "g@example.com", "--name", "G", "--password", "long-password-1"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, env, "", "users", "set-groups", "--email", "g@example.com", "--groups", "ops,Dev")
	if err != nil || !strings.Contains(out, "groups of g@example.com: dev,ops") {
		t.Fatalf("set-groups: %v %s", err, out)
	}
	if out, err := runCLI(t, env, "", "users", "list"); err != nil || !strings.Contains(out, "dev,ops") {
		t.Fatalf("list: %v %s", err, out)
	}
	if out, err := runCLI(t, env, "", "users", "set-groups", "--email", "g@example.com", "--groups", "bad name"); err == nil || !strings.Contains(err.Error(), "groups") {
		t.Fatalf("bad name: %v %s", err, out)
	}
	if out, err := runCLI(t, env, "", "users", "set-groups", "--email", "g@example.com", "--groups", ""); err != nil || !strings.Contains(out, ": none") {
		t.Fatalf("clear: %v %s", err, out)
	}
}
