package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// runCLI runs a command the way main does, with env as the environment.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return env[k] },
	})
	return out.String() + errOut.String(), err
}

func TestCLI_Users_CreateListSetRoleDelete(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": testdb.SQLiteURL, "postgres": testdb.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": url(t)}
			out, err := runCLI(t, env, "stdin-password\n", "users", "create", "--email", "Cli@Example.com", "--name", "Cli User", "--role", "admin")
			if err != nil || !strings.Contains(out, "created admin cli@example.com") {
				t.Fatalf("create: %v %s", err, out)
			}
			if _, err := runCLI(t, env, "", "users", "create", "--email", "cli@example.com", "--name", "Dup", "--password", "another-pass"); err == nil {
				t.Fatal("duplicate email accepted")
			}
			if _, err := runCLI(t, env, "", "users", "create", "--email", "bad", "--name", "X", "--password", "another-pass"); err == nil {
				t.Fatal("bad email accepted")
			}
			out, err = runCLI(t, env, "", "users", "list")
			if err != nil || !strings.Contains(out, "cli@example.com") || !strings.Contains(out, "admin") {
				t.Fatalf("list: %v %s", err, out)
			}
			db, err := models.Open(context.Background(), env["DATABASE_URL"])
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			u, err := models.FindUserByEmail(context.Background(), db, "cli@example.com")
			if err != nil || !models.VerifyPassword(u.PasswordHash, "stdin-password") {
				t.Fatalf("password from stdin not stored: %v", err)
			}
			// The only admin stays one; with a second, the first may step down.
			if out, err := runCLI(t, env, "", "users", "set-role", "--email", "cli@example.com", "--role", "user"); err == nil {
				t.Fatalf("the last active admin was demoted: %s", out)
			}
			if _, err := runCLI(t, env, "", "users", "create", "--email", "cli2@example.com", "--name", "Second", "--role", "admin", "--password", "password123"); err != nil {
				t.Fatal(err)
			}
			out, err = runCLI(t, env, "", "users", "set-role", "--email", "cli@example.com", "--role", "user")
			if err != nil || !strings.Contains(out, "is now user") {
				t.Fatalf("set-role: %v %s", err, out)
			}
			if _, err := runCLI(t, env, "", "users", "set-role", "--email", "cli@example.com", "--role", "root"); err == nil {
				t.Fatal("bad role accepted")
			}
			out, err = runCLI(t, env, "", "users", "delete", "--email", "cli@example.com")
			if err != nil || !strings.Contains(out, "deleted cli@example.com") {
				t.Fatalf("delete: %v %s", err, out)
			}
			if _, err := runCLI(t, env, "", "users", "delete", "--email", "cli@example.com"); err == nil {
				t.Fatal("deleting an unknown user succeeded")
			}
		})
	}
}

func TestCLI_Doctor_ReportsEveryConfigProblemAtOnce(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL": testdb.SQLiteURL(t), "SESSION_MAX_AGE": "soon", "LOG_LEVEL": "loud",
		"CLEANUP_SCHEDULE": "every tuesday", "BASE_URL": "ftp://x", "AUTH_SECRET": "short",
	}
	out, err := runCLI(t, env, "", "doctor")
	if err == nil {
		t.Fatal("doctor passed a broken configuration")
	}
	for _, want := range []string{"SESSION_MAX_AGE", "LOG_LEVEL", "CLEANUP_SCHEDULE", "BASE_URL", "AUTH_SECRET"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor did not report %s:\n%s", want, out)
		}
	}
}

func TestCLI_Doctor_WarnsAboutRiskyCombinations_AndChecksMigrations(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testdb.SQLiteURL(t), "BASE_URL": "https://login.example.com"}
	if out, err := runCLI(t, env, "", "doctor"); err == nil || !strings.Contains(out, "migrations not applied") {
		t.Fatalf("doctor on an empty database: %v %s", err, out)
	}
	migs, err := models.Migrations(models.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, env, "", "migrate"); err != nil || !strings.Contains(out, migs[len(migs)-1].ID) {
		t.Fatalf("migrate: %v %s", err, out)
	}
	out, err := runCLI(t, env, "", "doctor")
	if err != nil || !strings.Contains(out, "AUTH_SECRET is unset") || !strings.Contains(out, "no admin exists") {
		t.Fatalf("doctor warnings: %v %s", err, out)
	}
	env["BASE_URL"] = "http://login.example.com"
	if out, _ := runCLI(t, env, "", "doctor"); !strings.Contains(out, "plain http") {
		t.Fatalf("no warning for plain http on a public host: %s", out)
	}
}
