package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestImportAuthJS_CLI_ThenTheImportedCookieSignsIn is the move from
// Auth.js as a self-hoster makes it: import with --sessions (a dry run
// first), start sessiond with SESSION_COOKIE_NAME set to Auth.js's cookie,
// and the browser's old cookie still signs its owner in (and is renewed
// under the same name). Without the setting, or for a token never
// imported, it does not.
func TestImportAuthJS_CLI_ThenTheImportedCookieSignsIn(t *testing.T) {
	from, src := testdb.AuthJS(t, false)
	const token = "9b2f6f8e-1c3d-4e5f-8a7b-6c5d4e3f2a1b"
	exp := time.Now().Add(48 * time.Hour).UTC()
	if _, err := src.Exec(`INSERT INTO users (id, name, email) VALUES (1, 'Moved Over', 'moved@example.com'), (2, 'Broken', 'not-an-email')`); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(`INSERT INTO sessions ("userId", expires, "sessionToken") VALUES (1, $1, $2)`, exp, token); err != nil {
		t.Fatal(err)
	}
	for _, target := range []struct{ name, url string }{{"sqlite", testdb.SQLiteURL(t)}, {"postgres", testdb.PostgresURL(t)}} {
		t.Run(target.name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": target.url}
			out, err := runCLI(t, env, "", "import", "authjs", "--from", from, "--sessions", "--dry-run")
			if err != nil || !strings.Contains(out, "would import (dry run, nothing changed) 1") || !strings.Contains(out, "skipped: user 2") {
				t.Fatalf("dry run: %v\n%s", err, out)
			}
			out, err = runCLI(t, env, "", "import", "authjs", "--from", from, "--sessions")
			if err != nil || !strings.Contains(out, "users:    imported 1, already here 0 (matched by email), skipped 1") ||
				!strings.Contains(out, "sessions: imported 1, already here 0") {
				t.Fatalf("import: %v\n%s", err, out)
			}
			if out, err := runCLI(t, env, "", "import", "authjs", "--from", from, "--sessions"); err != nil || !strings.Contains(out, "sessions: imported 0, already here 1") {
				t.Fatalf("second import: %v\n%s", err, out)
			}
			if _, err := runCLI(t, env, "", "import", "authjs", "--from", "mysql://nope"); err == nil {
				t.Fatal("an import from a non-PostgreSQL URL ran")
			}

			db := testdb.Open(t, target.url)
			a := newTestApp(t, db, map[string]string{"SESSION_COOKIE_NAME": "authjs.session-token", "SESSION_UPDATE_AGE": "0"})
			me := func(name, value string) *http.Response {
				req, _ := http.NewRequest("GET", testBase+"/api/me", nil)
				req.Header.Set("Accept", "application/json")
				req.AddCookie(&http.Cookie{Name: name, Value: value})
				return a.do(req)
			}
			resp := me("authjs.session-token", token)
			if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"email":"moved@example.com"`) {
				t.Fatalf("the imported cookie: %d %s", resp.StatusCode, body)
			}
			renewed := false
			for _, ck := range resp.Cookies() {
				renewed = renewed || (ck.Name == "authjs.session-token" && ck.Value == token)
			}
			if !renewed {
				t.Fatal("the imported session's cookie was not renewed under its name")
			}
			if resp := me("authjs.session-token", "0f0f0f0f-1c3d-4e5f-8a7b-6c5d4e3f2a1b"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a token never imported: %d", resp.StatusCode)
			}
			if resp := me("sessiond_session", token); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("the imported token under another cookie name: %d", resp.StatusCode)
			}
			plain := newTestApp(t, db, nil)
			req, _ := http.NewRequest("GET", testBase+"/api/me", nil)
			req.Header.Set("Accept", "application/json")
			req.AddCookie(&http.Cookie{Name: "sessiond_session", Value: token})
			if resp := plain.do(req); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("without SESSION_COOKIE_NAME an imported token is taken: %d", resp.StatusCode)
			}
			c := a.client()
			setPassword(t, db, mustUser(t, db, "moved@example.com").ID, "password123")
			c.login("moved@example.com", "password123")
			if c.cookie() == "" || len(c.cookie()) != models.TokenLen {
				t.Fatal("a sign-in does not set sessiond's own token under SESSION_COOKIE_NAME")
			}

		})
	}
}

func mustUser(t testing.TB, db *models.DB, email string) *models.User {
	t.Helper()
	u, err := models.FindUserByEmail(t.Context(), db, email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
