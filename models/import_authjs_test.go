package models_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// authjsRows fills an Auth.js database (adapter naming) with a small
// population that has one of every case the import must handle.
func fillAuthJS(t *testing.T, src *sql.DB, now time.Time) {
	t.Helper()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := src.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO users (id, name, email, "emailVerified") VALUES
		(1, 'Ada Lovelace', 'Ada@Example.com', $1), (2, NULL, 'grace@example.com', NULL), (3, 'No Mail', NULL, NULL),
		(4, 'Ada Again', 'ada@example.com', NULL), (5, 'Existing', 'existing@example.com', $1)`, now.Add(-time.Hour))
	exec(`INSERT INTO accounts ("userId", type, provider, "providerAccountId") VALUES
		(1, 'oauth', 'github', '4242'), (1, 'oidc', 'google', 'g-1'), (2, 'email', 'email', 'grace@example.com'),
		(3, 'oauth', 'github', '999'), (5, 'oauth', 'github', '5555')`)
	exec(`INSERT INTO sessions ("userId", expires, "sessionToken") VALUES
		(1, $1, '6f1c7c1e-3b8a-4d1e-9a47-5d2c3e0b9f10'), (1, $1, 'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1'),
		(2, $2, '0c1d2e3f-expired-session-token'), (3, $1, 'de305d54-75b4-431b-adb2-eb6b9e546014'),
		(5, $1, 'has spaces; and a quote '' in it')`, now.Add(24*time.Hour), now.Add(-time.Hour))
}

// TestImportAuthJS_DryRun_Import_Again_CountsAndIdempotence: the dry run
// counts exactly what the import then does and changes nothing; the
// import keeps names, matches an existing user by email, links provider
// accounts, hashes live session tokens keeping their expiry, reports and
// skips bad rows; a second run adds nothing.
func TestImportAuthJS_DryRun_Import_Again_CountsAndIdempotence(t *testing.T) {
	_, src := testdb.AuthJS(t, false)
	now := time.Now().UTC().Truncate(time.Second)
	fillAuthJS(t, src, now)
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		existing := testdb.CreateUser(t, db, "existing@example.com", models.RoleUser)
		var problems []string
		run := func(dry bool) models.AuthJSSummary {
			t.Helper()
			problems = nil
			sum, err := models.ImportAuthJS(ctx, db, models.AuthJSImport{Source: src, Sessions: true, DryRun: dry, Now: now,
				Report: func(p string) { problems = append(problems, p) }})
			if err != nil {
				t.Fatal(err)
			}
			return sum
		}
		want := models.AuthJSSummary{Tables: `"users", "accounts", "sessions"`, Users: 2, UsersMatched: 1, UsersSkipped: 2,
			Accounts: 3, AccountsSkipped: 2, Sessions: 2, SessionsExpired: 1, SessionsSkipped: 2}
		dry := run(true)
		dry.Took, dry.UsersVerified, dry.VerifiedKept = 0, 0, false
		if dry != want {
			t.Fatalf("dry run:\n got %+v\nwant %+v", dry, want)
		}
		if n := tableRows(t, db, "users", ""); n != 1 || tableRows(t, db, "accounts", "") != 0 || tableRows(t, db, "sessions", "") != 0 {
			t.Fatalf("the dry run changed the database (%d users)", n)
		}
		if len(problems) != 6 {
			t.Fatalf("%d problems reported, want 6: %q", len(problems), problems)
		}
		for _, want := range []string{"user 3: email \"\"", "user 4: email ada@example.com is also user 1's", "account 3: type \"email\"",
			"account 4: its user 3 was not imported", "session 4: its user 3", "session 5: its token"} {
			if !strings.Contains(strings.Join(problems, "\n"), want) {
				t.Errorf("no report of %q in %q", want, problems)
			}
		}

		got := run(false)
		got.Took, got.UsersVerified, got.VerifiedKept = 0, 0, false
		if got != want {
			t.Fatalf("import:\n got %+v\nwant %+v", got, want)
		}
		ada, err := models.FindUserByEmail(ctx, db, "ada@example.com")
		if err != nil || ada.Name != "Ada Lovelace" || ada.HasPassword() {
			t.Fatalf("ada: %+v %v", ada, err)
		}
		if grace, err := models.FindUserByEmail(ctx, db, "grace@example.com"); err != nil || grace.Name != "grace" {
			t.Fatalf("a user without a name is named after the address: %+v %v", grace, err)
		}
		if acct, err := models.FindAccount(ctx, db, "github", "5555"); err != nil || acct.UserID != existing.ID {
			t.Fatalf("the existing user's account: %+v %v", acct, err)
		}
		var s models.Session
		if err := db.NewSelect().Model(&s).Where("token_hash = ?", models.HashToken("6f1c7c1e-3b8a-4d1e-9a47-5d2c3e0b9f10")).Scan(ctx); err != nil {
			t.Fatalf("the imported session is not found by its token's hash: %v", err)
		}
		if s.UserID != ada.ID || !s.ExpiresAt.Equal(now.Add(24*time.Hour)) || s.Provider != models.AuthJSProvider {
			t.Fatalf("imported session %+v", s)
		}
		if n := tableRows(t, db, "sessions", "token_hash LIKE ?", "%-%"); n != 0 {
			t.Fatal("a raw token was stored")
		}

		again := run(false)
		if again.Users != 0 || again.UsersMatched != 3 || again.Accounts != 0 || again.AccountsPresent != 3 || again.Sessions != 0 || again.SessionsPresent != 2 {
			t.Fatalf("second run changed something: %+v", again)
		}
		if tableRows(t, db, "users", "") != 3 || tableRows(t, db, "accounts", "") != 3 || tableRows(t, db, "sessions", "") != 2 {
			t.Fatal("second run added rows")
		}
	})
}

// TestImportAuthJS_SeedNaming_And_FailureLeavesNothing: the singular
// tables ("user", account, session, text ids) import too; a source that
// fails half-way (an expiry that is not a time) leaves nothing imported.
func TestImportAuthJS_SeedNaming_And_FailureLeavesNothing(t *testing.T) {
	_, src := testdb.AuthJS(t, true)
	now := time.Now().UTC().Truncate(time.Second)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO "user" (id, name, email) VALUES ('ck1', 'Seed User', 'seed@example.com'), ('ck2', 'Other', 'other@example.com')`,
		`INSERT INTO account ("userId", type, provider, "providerAccountId") VALUES ('ck1', 'oidc', 'Corp', 'sub-1')`,
	} {
		if _, err := src.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.ExecContext(ctx, `INSERT INTO session ("userId", "sessionToken", expires) VALUES ('ck1', 'c5e0a8b4-7f0e-4f5e-9b1e-2a6d2f0a7c11', $1)`, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		sum, err := models.ImportAuthJS(ctx, db, models.AuthJSImport{Source: src, Sessions: true, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Tables != `"user", "account", "session"` || sum.Users != 2 || sum.Accounts != 1 || sum.Sessions != 1 {
			t.Fatalf("seed naming: %+v", sum)
		}
		if _, err := models.FindAccount(ctx, db, "corp", "sub-1"); err != nil {
			t.Fatalf("the provider's name is kept in lower case: %v", err)
		}
	})

	_, broken := testdb.AuthJS(t, true)
	for _, q := range []string{
		`ALTER TABLE session ALTER COLUMN expires TYPE TEXT`,
		`INSERT INTO "user" (id, email) VALUES ('u1', 'one@example.com'), ('u2', 'two@example.com')`,
		`INSERT INTO session ("userId", "sessionToken", expires) VALUES ('u1', 'c5e0a8b4-7f0e-4f5e-9b1e-2a6d2f0a7c12', 'tomorrow-ish')`,
	} {
		if _, err := broken.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		if _, err := models.ImportAuthJS(ctx, db, models.AuthJSImport{Source: broken, Sessions: true, Now: now}); err == nil {
			t.Fatal("an import from a broken source succeeded")
		}
		if n := tableRows(t, db, "users", ""); n != 0 {
			t.Fatalf("a failed import left %d users behind", n)
		}
	})
}

// tableRows counts a table's rows matching where ("" for all).
func tableRows(t testing.TB, db *models.DB, table, where string, args ...any) int {
	t.Helper()
	q := db.NewSelect().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	n, err := q.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}
