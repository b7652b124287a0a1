package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// adminLine is the info line logged for the request with this id (not
// the access line), or "".
func adminLine(logs, requestID string) string {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "request_id="+requestID+" ") && !strings.Contains(line, `msg=request `) && strings.Contains(line, "level=INFO") {
			return line
		}
	}
	return ""
}

func TestAdminMutations_EveryOneLogsAnInfoLineWithTheActor_FailuresDoNot(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		other := testdb.CreateUser(t, db, "other@example.test", models.RoleUser)
		actor := fmt.Sprintf("actor_id=%d actor_email=%s", f.admin.ID, f.admin.Email)
		sessionOf := func() int64 {
			_, s, err := signInAs(f.a.srv.Sessions(), context.Background(), other.ID, models.Client{})
			if err != nil {
				t.Fatal(err)
			}
			return s.ID
		}
		uid := itoa(other.ID)
		for _, m := range []struct {
			method, path string
			form         url.Values
		}{
			{"DELETE", "/admin/sessions/" + itoa(sessionOf()), nil},
			{"DELETE", "/admin/sessions", url.Values{"id": {itoa(sessionOf())}}},
			{"DELETE", "/admin/sessions", url.Values{"userId": {uid}}},
			{"POST", "/admin/sessions", url.Values{"action": {"cleanup"}}},
			{"POST", "/admin/cleanup/run", url.Values{}},
			{"POST", "/admin/users", url.Values{"email": {"new@example.test"}, "name": {"New"}, "role": {"user"}, "password": {"password123"}}},
			{"POST", "/admin/users/" + uid + "/role", url.Values{"role": {"admin"}}},
			{"POST", "/admin/users/" + uid + "/logout", url.Values{}},
			{"POST", "/admin/users/" + uid + "/disable", url.Values{}},
			{"POST", "/admin/users/" + uid + "/enable", url.Values{}},
			{"POST", "/admin/users/" + uid + "/reset-link", url.Values{"action": {"copy"}}},
			{"POST", "/admin/users/" + uid + "/reset-2fa", url.Values{}},
			{"DELETE", "/admin/users/" + uid, nil},
		} {
			resp := f.ac.api(m.method, m.path, m.form)
			body := readBody(t, resp)
			if resp.StatusCode >= 300 {
				t.Fatalf("%s %s %v: %d %s", m.method, m.path, m.form, resp.StatusCode, body)
			}
			line := adminLine(f.a.logs.String(), resp.Header.Get("X-Request-ID"))
			if !strings.Contains(line, actor) || !strings.Contains(line, "method="+m.method) {
				t.Errorf("%s %s: admin log line %q, want one at info with %s", m.method, m.path, line, actor)
			}
		}
		// A refused change is no admin action: only its access line.
		resp := f.ac.api("DELETE", "/admin/sessions/987654", nil)
		resp.Body.Close()
		if line := adminLine(f.a.logs.String(), resp.Header.Get("X-Request-ID")); resp.StatusCode != 404 || line != "" {
			t.Fatalf("a 404 delete: %d, logged %q", resp.StatusCode, line)
		}
	})
}
