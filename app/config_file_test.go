package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sessiond/models/testdb"
)

// writeSecret writes value (with the newline editors add) to a file of
// its own and returns the path.
func writeSecret(t *testing.T, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfig_EverySecretAcceptsFile_OneRuleForAll(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL_FILE":            writeSecret(t, "postgres://app:pw@db.example.test/sessiond"),
		"AUTH_SECRET_FILE":             writeSecret(t, strings.Repeat("k", 40)),
		"METRICS_TOKEN_FILE":           writeSecret(t, "metrics-token-0123456789"),
		"SMTP_URL_FILE":                writeSecret(t, "smtps://mailer:pw@mail.example.test:465"),
		"MAIL_FROM":                    "login@example.test",
		"BASE_URL":                     "https://login.example.test",
		"OIDC_PROVIDERS":               "corp",
		"OIDC_CORP_ISSUER":             "https://sso.example.test",
		"OIDC_CORP_CLIENT_ID":          "sessiond",
		"OIDC_CORP_CLIENT_SECRET_FILE": writeSecret(t, "corp-secret"),
		"GITHUB_CLIENT_ID":             "gh",
		"GITHUB_CLIENT_SECRET_FILE":    writeSecret(t, "gh-secret"),
		"LOG_LEVEL_FILE":               writeSecret(t, "warn"), // not a secret, but the same rule
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{
		"DATABASE_URL": cfg.DatabaseURL, "AUTH_SECRET": cfg.AuthSecret, "METRICS_TOKEN": cfg.MetricsToken,
		"SMTP_URL": cfg.SMTP.Addr(), "OIDC_CORP_CLIENT_SECRET": cfg.Providers[0].ClientSecret,
		"GITHUB_CLIENT_SECRET": cfg.GitHub.ClientSecret, "LOG_LEVEL": cfg.LogLevel.String(),
	} {
		want := map[string]string{
			"DATABASE_URL": "postgres://app:pw@db.example.test/sessiond", "AUTH_SECRET": strings.Repeat("k", 40),
			"METRICS_TOKEN": "metrics-token-0123456789", "SMTP_URL": "mail.example.test:465",
			"OIDC_CORP_CLIENT_SECRET": "corp-secret", "GITHUB_CLIENT_SECRET": "gh-secret", "LOG_LEVEL": "WARN",
		}[name]
		if got != want {
			t.Errorf("%s from its _FILE: %q, want %q", name, got, want)
		}
	}
}

func TestLoadConfig_FileMistakes_NamedAllAtOnce(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL": "sqlite:x.db", "DATABASE_URL_FILE": writeSecret(t, "sqlite:y.db"),
		"SMTP_URL_FILE": filepath.Join(t.TempDir(), "missing"),
	}
	_, err := LoadConfig(func(k string) string { return env[k] })
	for _, want := range []string{"DATABASE_URL and DATABASE_URL_FILE are both set", "SMTP_URL_FILE: open"} {
		if !strings.Contains(errString(err), want) {
			t.Errorf("error %q does not say %q", errString(err), want)
		}
	}
}

// The commands take the database from DATABASE_URL_FILE, on both databases.
func TestCLI_DatabaseURLFromFile(t *testing.T) {
	for name, dbURL := range map[string]func(testing.TB) string{"sqlite": testdb.SQLiteURL, "postgres": testdb.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL_FILE": writeSecret(t, dbURL(t))}
			out, err := runCLI(t, env, "", "users", "create", "--email", "file@example.test", "--name", "F", "--password", "password123")
			if err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if out, err := runCLI(t, env, "", "users", "list"); err != nil || !strings.Contains(out, "file@example.test") {
				t.Fatalf("list: %v %s", err, out)
			}
		})
	}
}

func TestDoctor_RequireEmailVerificationWithoutSMTP_Warns(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testdb.SQLiteURL(t), "REQUIRE_EMAIL_VERIFICATION": "true"}
	if out, err := runCLI(t, env, "", "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	out, err := runCLI(t, env, "", "doctor")
	if err != nil || !strings.Contains(out, "warn  REQUIRE_EMAIL_VERIFICATION without SMTP_URL") {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	env["REQUIRE_EMAIL_VERIFICATION"] = "maybe"
	if out, err := runCLI(t, env, "", "doctor"); err == nil || !strings.Contains(out, `REQUIRE_EMAIL_VERIFICATION="maybe"`) {
		t.Fatalf("doctor with a bad value: %v\n%s", err, out)
	}
}
