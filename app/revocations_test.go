package app

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// A running server with an hour's cache TTL honours, within the bound,
// revocations it had no part in: a user disabled by the CLI (another
// process's connections), a session deleted and a role changed by raw SQL.
// Each user's session is answered from the cache first, so only the
// revocation log can end it.
func TestRevocationLog_CLIAndRawSQL_ReachARunningServer(t *testing.T) {
	testdb.EachURL(t, func(t *testing.T, url string) {
		db, other := openURL(t, url), openURL(t, url)
		a, _ := liveServer(t, db, map[string]string{"SESSION_CACHE_TTL": "1h", "LOG_LEVEL": "warn"})
		clients := map[string]*client{}
		for _, name := range []string{"cli", "deleted", "promoted"} {
			c, _ := a.signIn(name+"@example.com", models.RoleUser)
			clients[name] = c
		}
		for name, c := range clients {
			waitFor(t, name+" answered from the cache", c.signedIn, func() bool {
				h, _ := a.srv.sessions.Cache().Counts()
				return h > 0 && c.signedIn()
			})
		}

		if out, err := runCLI(t, map[string]string{"DATABASE_URL": url}, "", "users", "disable", "--email", "cli@example.com"); err != nil {
			t.Fatalf("CLI: %v\n%s", err, out)
		}
		refusedAfter(t, clients["cli"], time.Now())

		exec := func(q string, args ...any) {
			if _, err := other.ExecContext(context.Background(), q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE email = 'deleted@example.com')")
		refusedAfter(t, clients["deleted"], time.Now())

		exec("UPDATE users SET role = 'admin' WHERE email = 'promoted@example.com'")
		changed := time.Now()
		for {
			began := time.Now()
			resp := clients["promoted"].request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
			var me struct {
				User struct {
					Role string `json:"role"`
				} `json:"user"`
			}
			err := json.NewDecoder(resp.Body).Decode(&me)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("/api/me after the role change: %d %v", resp.StatusCode, err)
			}
			if me.User.Role == models.RoleAdmin {
				break
			}
			if began.Sub(changed) > models.RevocationBound {
				t.Fatalf("/api/me still says %q %v after the role changed", me.User.Role, began.Sub(changed))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// refusedAfter fails if c is still signed in on a request that began more
// than RevocationBound after since.
func refusedAfter(t *testing.T, c *client, since time.Time) {
	t.Helper()
	for {
		began := time.Now()
		if !c.signedIn() {
			return
		}
		if began.Sub(since) > models.RevocationBound {
			t.Fatalf("still signed in %v after the revocation (bound %v)", began.Sub(since), models.RevocationBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, first func() bool, cond func() bool) {
	t.Helper()
	if !first() {
		t.Fatalf("%s: not signed in", what)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
