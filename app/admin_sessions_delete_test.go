package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestAdminSessions_DeleteByUnknownTokenOrUser_404_NothingChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		var list struct {
			Sessions []struct {
				SessionToken string `json:"sessionToken"`
			} `json:"sessions"`
		}
		getJSON(t, f.ac, "/admin/sessions", 200, &list)
		neverIssued, _ := models.NewToken()
		before := countRows(t, db, "sessions", "")
		events := countRows(t, db, "session_events", "")
		for name, form := range map[string]url.Values{
			"the list's hash prefix": {"sessionToken": {list.Sessions[0].SessionToken}},
			"a token never issued":   {"sessionToken": {neverIssued}},
			"a malformed token":      {"sessionToken": {"not a token"}},
			"a user who is not":      {"userId": {"987654"}},
		} {
			resp := f.ac.api("DELETE", "/admin/sessions", form)
			body := readBody(t, resp)
			if resp.StatusCode != 404 || !strings.HasPrefix(body, `{"error":`) {
				t.Errorf("%s: %d %s, want 404 {error}", name, resp.StatusCode, body)
			}
		}
		if n := countRows(t, db, "sessions", ""); n != before {
			t.Fatalf("%d sessions after refused deletes, want %d", n, before)
		}
		if n := countRows(t, db, "session_events", ""); n != events {
			t.Fatalf("refused deletes wrote %d audit events", n-events)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ?", models.EventUserForceLogout, 987654); n != 0 {
			t.Fatal("a force-logout event names a user who does not exist")
		}
		// A user who exists but has no session: nothing to end, and that is no error.
		idle := testdb.CreateUser(t, db, "idle@example.test", models.RoleUser)
		resp := f.ac.api("DELETE", "/admin/sessions", url.Values{"userId": {itoa(idle.ID)}})
		if body := readBody(t, resp); resp.StatusCode != 200 || body != `{"deleted":0}` {
			t.Fatalf("userId of a user without sessions: %d %s", resp.StatusCode, body)
		}
		// The raw token still works, once.
		for i, want := range []int{200, 404} {
			resp := f.ac.api("DELETE", "/admin/sessions", url.Values{"sessionToken": {f.uc.cookie()}})
			if body := readBody(t, resp); resp.StatusCode != want {
				t.Fatalf("delete by raw token #%d: %d %s, want %d", i+1, resp.StatusCode, body, want)
			}
		}
	})
}

// On PostgreSQL a large unfiltered list counts by the planner's estimate,
// and says so; a filtered list, and every list on SQLite, is exact.
func TestAdminSessions_TotalIsEstimate_OnlyForPostgresUnfilteredLists(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		ctx := context.Background()
		now := f.a.clock.Now()
		const extra = 10_050
		if db.Kind == models.Postgres {
			_, err := db.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at, ip, user_agent)
				SELECT md5(g::text) || md5((g+1)::text), ?, ?, ?, ?, '', '' FROM generate_series(1, ?) AS g`,
				f.user.ID, db.T(now.Add(time.Hour)), db.T(now), db.T(now), extra)
			if err == nil {
				_, err = db.ExecContext(ctx, "ANALYZE sessions")
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		var list struct {
			Total    int  `json:"total"`
			Estimate bool `json:"totalIsEstimate"`
		}
		getJSON(t, f.ac, "/admin/sessions", 200, &list)
		if want := db.Kind == models.Postgres; list.Estimate != want {
			t.Fatalf("unfiltered on %s: totalIsEstimate %v, want %v (total %d)", db.Kind, list.Estimate, want, list.Total)
		}
		_, page := f.ac.page("/admin/sessions")
		if shown := strings.Contains(page, "about "); shown != list.Estimate {
			t.Fatalf("the page says \"about\": %v, the JSON totalIsEstimate: %v", shown, list.Estimate)
		}
		getJSON(t, f.ac, fmt.Sprintf("/admin/sessions?userId=%d", f.admin.ID), 200, &list)
		if list.Estimate || list.Total != 1 {
			t.Fatalf("filtered: total %d, totalIsEstimate %v; want an exact 1", list.Total, list.Estimate)
		}
	})
}
